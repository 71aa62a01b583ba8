"""What higher apps tell the usage app: the streamed signals per vehicle and per field per day
(telemetry registers its readers at start, telemetry/apps.py), as the layers forbid usage to
import telemetry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

# (first day, last day) -> (day, region, VIN, configuration name or "", signals) rows
Row = tuple[dt.date, str, str, str, int]
SignalDays = Callable[[dt.date, dt.date], Iterable[Row]]

# (first day, last day) -> (day, field, signals) rows
FieldRow = tuple[dt.date, str, int]
FieldDays = Callable[[dt.date, dt.date], Iterable[FieldRow]]

_signal_days: SignalDays | None = None
_field_days: FieldDays | None = None


def register_signal_days(reader: SignalDays) -> None:
    global _signal_days
    _signal_days = reader


def signal_days(first: dt.date, last: dt.date) -> list[Row]:
    return list(_signal_days(first, last)) if _signal_days is not None else []


def register_field_days(reader: FieldDays) -> None:
    global _field_days
    _field_days = reader


def field_days(first: dt.date, last: dt.date) -> list[FieldRow]:
    return list(_field_days(first, last)) if _field_days is not None else []
