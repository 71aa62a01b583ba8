"""What higher apps tell the usage app: the streamed signals per day (telemetry registers its
reader at start, telemetry/apps.py), as the layers forbid usage to import telemetry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

# (first day, last day) -> (day, region, VIN, configuration name or "", signals) rows
Row = tuple[dt.date, str, str, str, int]
SignalDays = Callable[[dt.date, dt.date], Iterable[Row]]

_signal_days: SignalDays | None = None


def register_signal_days(reader: SignalDays) -> None:
    global _signal_days
    _signal_days = reader


def signal_days(first: dt.date, last: dt.date) -> list[Row]:
    return list(_signal_days(first, last)) if _signal_days is not None else []
