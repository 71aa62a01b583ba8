"""What higher apps tell the usage app: the streamed signals per day (telemetry registers its
reader at start, telemetry/apps.py), as the layers forbid usage to import telemetry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

# (first day, last day) -> (day, region, vin, signals) rows
SignalDays = Callable[[dt.date, dt.date], Iterable[tuple[dt.date, str, str, int]]]

_signal_days: SignalDays | None = None


def register_signal_days(reader: SignalDays) -> None:
    global _signal_days
    _signal_days = reader


def signal_days(first: dt.date, last: dt.date) -> list[tuple[dt.date, str, str, int]]:
    return list(_signal_days(first, last)) if _signal_days is not None else []
