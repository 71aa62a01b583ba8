"""The owner's live view of a car: its latest streamed values and history, worded for people.

Reads only what the consumer wrote (StreamValue, StreamPoint, VehicleStream). Values are
parsed already (§10.1): numbers (sometimes sent as strings), strings, booleans, enum names
("DetailedChargeStateCharging"), `{"latitude", "longitude"}` objects, door objects, and None
for the car's "invalid". The car reports distances in miles, speeds in mph, power in kW,
energy in kWh and temperatures in °C; the page shows miles with kilometres beside them.

Privacy: a car's data belongs to whoever has it now. The page shows only what arrived since
the viewer's own access to the car began, so a new owner never sees where the previous one
drove, and the caller has already refused anyone without a current access of their own.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import Max
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telemetry.models import StreamPoint, StreamValue, VehicleStream
from vehicles.models import Vehicle, VehicleAccess

KM_PER_MILE = 1.609344
# The chart's own coordinate box (the SVG scales it to the page's width).
CHART_WIDTH = 300
CHART_HEIGHT = 100
CHART_PAD = 4
# How far back a chart reaches, and how many points it draws at most (a day of one-minute
# buckets is 1,440: thinned so every poll stays small).
HISTORY_WINDOW = dt.timedelta(hours=24)
CHART_MAX_POINTS = 240
# The browser asks for fresh values this often.
POLL_SECONDS = 5


@dataclass(frozen=True)
class Shown:
    label: Any  # a lazy translation
    unit: str
    group: str


# The fields the page words and groups; every name is in telemetry/data/telemetry-fields.txt
# (a test checks). Any other field the car sends is listed as it comes, in a plain table.
FIELDS: dict[str, Shown] = {
    "Soc": Shown(gettext_lazy("State of charge"), "percent", "battery"),
    "BatteryLevel": Shown(gettext_lazy("Battery level"), "percent", "battery"),
    "EstBatteryRange": Shown(gettext_lazy("Estimated range"), "miles", "battery"),
    "RatedRange": Shown(gettext_lazy("Rated range"), "miles", "battery"),
    "IdealBatteryRange": Shown(gettext_lazy("Ideal range"), "miles", "battery"),
    "EnergyRemaining": Shown(gettext_lazy("Energy remaining"), "kwh", "battery"),
    "ChargeLimitSoc": Shown(gettext_lazy("Charge limit"), "percent", "battery"),
    "DetailedChargeState": Shown(gettext_lazy("Charging state"), "enum", "charging"),
    "ChargeState": Shown(gettext_lazy("Charge state"), "enum", "charging"),
    "ACChargingPower": Shown(gettext_lazy("AC charging power"), "kw", "charging"),
    "DCChargingPower": Shown(gettext_lazy("DC charging power"), "kw", "charging"),
    "ChargerVoltage": Shown(gettext_lazy("Charger voltage"), "volt", "charging"),
    "ChargeAmps": Shown(gettext_lazy("Charge current"), "amp", "charging"),
    "TimeToFullCharge": Shown(gettext_lazy("Time to full charge"), "hours", "charging"),
    "FastChargerPresent": Shown(gettext_lazy("Fast charger connected"), "bool", "charging"),
    "ChargePortDoorOpen": Shown(gettext_lazy("Charge port door open"), "bool", "charging"),
    "Location": Shown(gettext_lazy("Location"), "location", "location"),
    "GpsHeading": Shown(gettext_lazy("Heading"), "degrees", "location"),
    "VehicleSpeed": Shown(gettext_lazy("Speed"), "mph", "location"),
    "Gear": Shown(gettext_lazy("Gear"), "enum", "location"),
    "Odometer": Shown(gettext_lazy("Odometer"), "miles", "vehicle"),
    "Locked": Shown(gettext_lazy("Doors locked"), "locked", "vehicle"),
    "DoorState": Shown(gettext_lazy("Doors"), "doors", "vehicle"),
    "SentryMode": Shown(gettext_lazy("Sentry mode"), "enum", "vehicle"),
    "Version": Shown(gettext_lazy("Software version"), "text", "vehicle"),
    "InsideTemp": Shown(gettext_lazy("Inside temperature"), "celsius", "vehicle"),
    "OutsideTemp": Shown(gettext_lazy("Outside temperature"), "celsius", "vehicle"),
}

GROUPS: tuple[tuple[str, Any], ...] = (
    ("battery", gettext_lazy("Battery and range")),
    ("charging", gettext_lazy("Charging and power")),
    ("location", gettext_lazy("Location and driving")),
    ("vehicle", gettext_lazy("Vehicle")),
)

# Enum names arrive with their type as prefix ("DetailedChargeStateCharging", "ShiftStateD").
ENUM_PREFIXES = ("DetailedChargeState", "ChargeState", "ShiftState", "SentryModeState")
ENUM_WORDS = {
    "Unknown": gettext_lazy("Unknown"),
    "Invalid": gettext_lazy("Not available"),
    "SNA": gettext_lazy("Not available"),
    "Disconnected": gettext_lazy("Disconnected"),
    "NoPower": gettext_lazy("Plugged in, no power"),
    "Starting": gettext_lazy("Starting"),
    "Charging": gettext_lazy("Charging"),
    "Complete": gettext_lazy("Charging complete"),
    "Stopped": gettext_lazy("Stopped"),
    "P": gettext_lazy("Park"),
    "R": gettext_lazy("Reverse"),
    "N": gettext_lazy("Neutral"),
    "D": gettext_lazy("Drive"),
    "Off": gettext_lazy("Off"),
    "Idle": gettext_lazy("Idle"),
    "Armed": gettext_lazy("Armed"),
    "Aware": gettext_lazy("Aware"),
    "Panic": gettext_lazy("Alarm"),
    "Quiet": gettext_lazy("Quiet"),
}
DOORS = {
    "DriverFront": gettext_lazy("driver front"),
    "DriverRear": gettext_lazy("driver rear"),
    "PassengerFront": gettext_lazy("passenger front"),
    "PassengerRear": gettext_lazy("passenger rear"),
    "TrunkFront": gettext_lazy("front trunk"),
    "TrunkRear": gettext_lazy("rear trunk"),
}
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _number(value: Any) -> float | None:
    """A number, also when the car sent it as a string (§10.2); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # JSON allows integers no float holds
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    # "NaN" or "inf" in a string would break the chart and the JSON the page parses.
    return number if math.isfinite(number) else None


def _fmt(number: float, places: int) -> str:
    return number_format(round(number, places), places, use_l10n=True, force_grouping=True)


def enum_text(value: str) -> str:
    """ "DetailedChargeStateCharging" → "Charging", in the reader's language."""
    word = value
    for prefix in ENUM_PREFIXES:
        if value.startswith(prefix) and len(value) > len(prefix):
            word = value[len(prefix) :]
            break
    if word in ENUM_WORDS:
        return str(ENUM_WORDS[word])
    return CAMEL.sub(" ", word)


def map_url(value: Any) -> str:
    """A link that opens the place on OpenStreetMap, or "" for anything but a location."""
    point = _lat_lon(value)
    if point is None:
        return ""
    lat, lon = point
    query = urlencode({"mlat": f"{lat:.6f}", "mlon": f"{lon:.6f}"})
    return f"https://www.openstreetmap.org/?{query}#map=16/{lat:.6f}/{lon:.6f}"


def _lat_lon(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        return None
    lat, lon = _number(value.get("latitude")), _number(value.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _unit_text(unit: str, number: float) -> str:
    if unit == "percent":
        return _("%(n)s %%") % {"n": _fmt(number, 0)}
    if unit == "miles":
        return _("%(mi)s mi (%(km)s km)") % {
            "mi": _fmt(number, 0),
            "km": _fmt(number * KM_PER_MILE, 0),
        }
    if unit == "mph":
        return _("%(mph)s mph (%(kmh)s km/h)") % {
            "mph": _fmt(number, 0),
            "kmh": _fmt(number * KM_PER_MILE, 0),
        }
    if unit == "kw":
        return _("%(n)s kW") % {"n": _fmt(number, 1)}
    if unit == "kwh":
        return _("%(n)s kWh") % {"n": _fmt(number, 1)}
    if unit == "volt":
        return _("%(n)s V") % {"n": _fmt(number, 0)}
    if unit == "amp":
        return _("%(n)s A") % {"n": _fmt(number, 0)}
    if unit == "celsius":
        return _("%(n)s °C") % {"n": _fmt(number, 1)}
    if unit == "degrees":
        return _("%(n)s°") % {"n": _fmt(number, 0)}
    if unit == "hours" and math.isfinite(number * 60):
        minutes = round(number * 60)
        return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}
    return _fmt(number, 2 if number % 1 else 0)


def value_text(field: str, value: Any) -> str:
    """One value as the owner reads it: units, enum names and yes/no in their language."""
    if value is None:
        return _("Not available")
    unit = FIELDS[field].unit if field in FIELDS else ""
    if unit == "text":
        return str(value)
    if unit == "location" or (not unit and _lat_lon(value) is not None):
        point = _lat_lon(value)
        if point is None:
            return _("Not available")
        return _("%(lat)s, %(lon)s") % {"lat": _fmt(point[0], 5), "lon": _fmt(point[1], 5)}
    if unit == "doors" and isinstance(value, dict):
        open_doors = [str(DOORS.get(name, name)) for name, is_open in value.items() if is_open]
        if not open_doors:
            return _("All closed")
        return _("Open: %(doors)s") % {"doors": ", ".join(open_doors)}
    if isinstance(value, bool):
        if unit == "locked":
            return _("Locked") if value else _("Unlocked")
        return _("Yes") if value else _("No")
    if isinstance(value, str) and (unit == "enum" or _number(value) is None):
        return enum_text(value)
    number = _number(value)
    if number is not None:
        return _unit_text(unit, number)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    return str(value)


def field_label(field: str) -> str:
    return str(FIELDS[field].label) if field in FIELDS else CAMEL.sub(" ", field)


# Seconds matter on a live page; the numeric form reads the same in both languages.
MOMENT_FORMAT = "Y-m-d H:i:s"


def when_text(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return _("never")
    return _("%(time)s (%(ago)s ago)") % {
        "time": date_format(timezone.localtime(moment), MOMENT_FORMAT),
        "ago": timesince(moment, now),
    }


def _thin(points: list[Any], limit: int) -> list[Any]:
    """At most `limit` points, evenly spread, the newest always kept."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    kept = [points[int(i * step)] for i in range(limit - 1)]
    return [*kept, points[-1]]


def chart(field: str, points: list[tuple[dt.datetime, Any]]) -> dict | None:
    """An SVG polyline of one field's history: a line for numbers, steps for states (enum,
    yes/no). None when nothing in it can be drawn (locations, objects). The car's "invalid"
    (None) is left out, never drawn as a zero."""
    points = [(at, value) for at, value in points if value is not None]
    numeric = [(at, _number(v)) for at, v in points]
    if numeric and all(n is not None for _at, n in numeric):
        kind = "line"
        series = [(at, float(n)) for at, n in numeric]
        low, high = min(n for _at, n in series), max(n for _at, n in series)
        low_text, high_text = value_text(field, low), value_text(field, high)
    elif points and all(isinstance(v, str | bool) for _at, v in points):
        kind = "step"
        levels: list[Any] = []
        for _at, value in points:
            if value not in levels:
                levels.append(value)
        levels.sort(key=lambda v: (str(type(v)), str(v)))
        series = [(at, float(levels.index(v))) for at, v in points]
        low, high = 0.0, float(len(levels) - 1)
        low_text, high_text = value_text(field, levels[0]), value_text(field, levels[-1])
    else:
        return None
    series = _thin(series, CHART_MAX_POINTS)
    start, end = series[0][0], series[-1][0]
    span = (end - start).total_seconds() or 1.0
    # Halves: high - low of two finite floats can overflow to inf (then every y is NaN).
    spread = (high / 2 - low / 2) or 1.0
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD

    def xy(at: dt.datetime, n: float) -> tuple[float, float]:
        x = CHART_PAD + inner_w * ((at - start).total_seconds() / span)
        y = CHART_PAD + inner_h * (0.5 if high == low else 1 - (n / 2 - low / 2) / spread)
        return round(x, 1), round(y, 1)

    coords: list[tuple[float, float]] = []
    for index, (at, n) in enumerate(series):
        x, y = xy(at, n)
        if kind == "step" and index:
            coords.append((x, coords[-1][1]))
        coords.append((x, y))
    if len(coords) == 1:
        # One point: a short flat line, so a lone value is still visible.
        coords.append((CHART_WIDTH - CHART_PAD, coords[0][1]))
    return {
        "field": field,
        "label": field_label(field),
        "kind": kind,
        "polyline": " ".join(f"{x},{y}" for x, y in coords),
        "low": low_text,
        "high": high_text,
        "start": date_format(timezone.localtime(start), MOMENT_FORMAT),
        "end": date_format(timezone.localtime(end), MOMENT_FORMAT),
        "points": [[at.isoformat(), value] for at, value in _thin(points, CHART_MAX_POINTS)],
    }


def _since(access) -> dt.datetime | None:
    """Since when the car's data is the viewer's: their access began, or, if another
    account's access to the car ended since, that end. A car that went to someone else and
    came back keeps the access's first_seen_at (the sync only clears gone_at), so without the
    second bound the returning owner would see the other owner's time (this errs on the safe
    side: after a co-driver's access ends the owner's older history is hidden too)."""
    start = getattr(access, "first_seen_at", None)
    if start is None:
        return None
    ended = (
        VehicleAccess.objects.filter(vehicle_id=access.vehicle_id, gone_at__gt=start)
        .exclude(link__user_id=access.link.user_id)
        .aggregate(end=Max("gone_at"))["end"]
    )
    return max(start, ended) if ended else start


def vehicle_live(*, vehicle: Vehicle, access, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the live page and its JSON show: worded values in their groups, the other
    fields, one chart per field with history, and when the car was last heard from.

    `access` is the viewer's own current access (the caller fetched it with
    get_vehicle_for_user): data from before it began is not theirs to see.
    """
    now = now or timezone.now()
    since = _since(access)
    values = StreamValue.objects.filter(vehicle=vehicle)
    points = StreamPoint.objects.filter(vehicle=vehicle, at__gte=now - HISTORY_WINDOW)
    if since is not None:
        values = values.filter(received_at__gte=since)
        points = points.filter(at__gte=since)
    rows = [_row(v.field, v.value, v.received_at, now) for v in values.order_by("field")]
    by_field: dict[str, list[tuple[dt.datetime, Any]]] = {}
    for field, at, value in points.order_by("field", "at").values_list("field", "at", "value"):
        by_field.setdefault(field, []).append((at, value))
    charts = [c for field, series in by_field.items() if (c := chart(field, series))]
    last_seen = max((v["received_at_dt"] for v in rows), default=None)
    stream = VehicleStream.objects.filter(vehicle=vehicle).first()
    connection = ""
    if (
        stream
        and stream.connectivity
        and (since is None or (stream.connectivity_at or now) >= since)
    ):
        connection = str(stream.get_connectivity_display())
    by_name = {r["field"]: r for r in rows}
    return {
        # Every worded field has its slot, hidden until a value arrives: the page's script
        # fills slots in place, so a field that starts streaming later needs no reload.
        "groups": [
            {
                "key": key,
                "label": str(label),
                "shown": any(by_name.get(name) for name in _fields_of(key)),
                "slots": [
                    {"field": name, "label": field_label(name), "row": by_name.get(name)}
                    for name in _fields_of(key)
                ],
            }
            for key, label in GROUPS
        ],
        "rows": rows,
        "others": [r for r in rows if not r["group"]],
        "charts": charts,
        "last_seen": last_seen,
        "last_seen_text": when_text(last_seen, now),
        "connection": connection,
    }


def vehicle_summary(*, vehicle: Vehicle, access, now: dt.datetime | None = None) -> dict:
    """The battery and the last data, for the link on the owner's vehicle page."""
    now = now or timezone.now()
    values = StreamValue.objects.filter(vehicle=vehicle)
    since = _since(access)
    if since is not None:
        values = values.filter(received_at__gte=since)
    battery = ""
    for row in values.filter(field__in=("Soc", "BatteryLevel")).order_by("-received_at")[:1]:
        battery = value_text(row.field, row.value)
    latest = values.order_by("-received_at").values_list("received_at", flat=True).first()
    return {"battery": battery, "last_seen_text": when_text(latest, now) if latest else ""}


def _fields_of(group: str) -> list[str]:
    return [name for name, shown in FIELDS.items() if shown.group == group]


def _row(field: str, value: Any, received_at: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    return {
        "field": field,
        "label": field_label(field),
        "group": FIELDS[field].group if field in FIELDS else "",
        "value": value,
        "text": value_text(field, value),
        "map_url": map_url(value),
        "received_at_dt": received_at,
        "received_at": received_at.isoformat(),
        "received_text": when_text(received_at, now),
    }


def as_json(live: dict[str, Any]) -> dict[str, Any]:
    """The JSON the page polls: the same words the page was rendered with."""
    return {
        "values": [{k: v for k, v in row.items() if k != "received_at_dt"} for row in live["rows"]],
        "charts": live["charts"],
        "last_seen": live["last_seen"].isoformat() if live["last_seen"] else None,
        "last_seen_text": live["last_seen_text"],
        "connection": live["connection"],
    }
