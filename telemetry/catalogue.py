"""The Fleet Telemetry field catalogue (§6), read once from the bundled copy.

Field names come from Tesla's `protos/vehicle_data.proto`
(https://github.com/teslamotors/fleet-telemetry/blob/main/protos/vehicle_data.proto); the
description, unit and minimum firmware of each field from `data/field-catalogue.tsv`, whose
header says where each column comes from.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

# The fields that need the `vehicle_location` scope (§6), for this app's users.
from teslafleet.telemetry import LOCATION_FIELDS  # noqa: F401

FIELDS_FILE = Path(__file__).resolve().parent / "data" / "telemetry-fields.txt"
DETAILS_FILE = Path(__file__).resolve().parent / "data" / "field-catalogue.tsv"

# Enum values that name no signal: `Unknown` (0), removed fields kept for wire compatibility,
# and experiments Tesla never documented (§6).
PLACEHOLDER_RE = re.compile(r"Unknown|Deprecated_\d+|Experimental_\d+")

# Picked for a new config: the handful most fleets start with, at intervals that do not flood
# the server (a value is only sent when it changed *and* the interval elapsed).
DEFAULT_FIELDS: tuple[tuple[str, int], ...] = (
    ("Soc", 60),
    ("BatteryLevel", 60),
    ("VehicleSpeed", 10),
    ("Odometer", 300),
    ("DetailedChargeState", 60),
    ("Gear", 10),
)
# Of those, the ones a new config keeps history of (the owner's charts): the usual picks.
DEFAULT_HISTORY = frozenset({"Soc", "BatteryLevel", "Odometer", "DetailedChargeState"})

# Groups for the builder, first match wins; the catalogue has no categories of its own.
GROUPS: tuple[tuple[str, str], ...] = (
    ("location", r"Location|Gps|Route|Destination|Origin|Arrival|LocatedAt"),
    (
        "charging",
        r"Charg|Bms|BMS|Soc$|Battery|Brick|Module|Pack|Range|Energy|Supercharger|"
        r"DCDC|Hvil|Isolation|Powershare|Preconditioning|ScheduledDeparture",
    ),
    (
        "drive",
        r"^Di|Speed|Gear|Pedal|Odometer|Accel|Cruise|Drive|Regen|Miles|Tpms|Semitruck|"
        r"Lane|Collision|Brak|BlindSpot|Wheel",
    ),
    ("climate", r"Hvac|Climate|Temp|Seat|Defrost|Cabin|Wiper|Heater"),
    ("security", r"Door|Lock|Window|Sentry|Valet|Guest|Pin|Key|Homelink|Trunk|Tonneau|Sunroof"),
    ("media", r"Media|Display|Lights|Setting"),
)
GROUP_LABELS = {
    "location": _("Location and navigation"),
    "charging": _("Battery and charging"),
    "drive": _("Driving"),
    "climate": _("Climate"),
    "security": _("Doors and security"),
    "media": _("Media, lights and settings"),
    "other": _("Vehicle and other"),
}


@cache
def all_names() -> tuple[str, ...]:
    """Every enum name in the catalogue, in field-number order, placeholders included."""
    lines = FIELDS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_placeholder(name: str) -> bool:
    return bool(PLACEHOLDER_RE.fullmatch(name))


@cache
def signal_names() -> frozenset[str]:
    """The names a config may use: the catalogue without its placeholders."""
    return frozenset(name for name in all_names() if not is_placeholder(name))


def group_of(name: str) -> str:
    for key, pattern in GROUPS:
        if re.search(pattern, name):
            return key
    return "other"


@cache
def _grouped() -> tuple[tuple[str, tuple[str, ...]], ...]:
    groups: dict[str, list[str]] = {key: [] for key in GROUP_LABELS}
    for name in all_names():
        if not is_placeholder(name):
            groups[group_of(name)].append(name)
    return tuple((key, tuple(sorted(names))) for key, names in groups.items() if names)


def grouped() -> list[tuple[str, str, tuple[str, ...]]]:
    """(key, translated label, names) per group, for the builder's catalogue."""
    return [(key, str(GROUP_LABELS[key]), names) for key, names in _grouped()]


# --- descriptions, units, firmware ----------------------------------------------------------

# The unit keys of field-catalogue.tsv. "none": a state, setting or text; "unknown": Tesla
# does not say, and guessing would mislead whoever charts the value.
UNITS = {
    "none": pgettext_lazy("unit", "none"),
    "unknown": pgettext_lazy("unit", "unknown"),
    "percent": "%",
    "V": "V",
    "A": "A",
    "kW": "kW",
    "kWh": "kWh",
    "celsius": "°C",
    "bar": "bar",
    "degrees": "°",
    "latlon": pgettext_lazy("unit", "latitude, longitude (°)"),
    "mi": pgettext_lazy("unit", "miles"),
    "mph": pgettext_lazy("unit", "mph"),
    "hours": pgettext_lazy("unit", "hours"),
    "minutes": pgettext_lazy("unit", "minutes"),
}
UNKNOWN_FIRMWARE = "unknown"
# The version at the start of a version string ("2024.44.25.1 8ed2c4bbd9f8", "1.0.0").
_VERSION_PREFIX = re.compile(r"\s*([0-9]+(?:\.[0-9]+)*)")


def version_key(version: str) -> tuple[int, ...] | None:
    """A dotted version as numbers to compare (2024.44.25 > 2024.44 > 2024.8), read from the
    start of the text (fleet_status adds a build hash to the firmware); None when unknown or
    unreadable. The one parser of car firmware, telemetry client and catalogue minima."""
    match = _VERSION_PREFIX.match(version or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


@dataclass(frozen=True)
class FieldDetails:
    name: str
    unit: str  # a key of UNITS
    min_firmware: str  # a version, or UNKNOWN_FIRMWARE
    description_en: str
    description_zh_hans: str

    @property
    def description(self) -> str:
        """In the active language: Simplified Chinese for zh-*, English otherwise."""
        lang = (get_language() or "en").lower()
        return self.description_zh_hans if lang.startswith("zh") else self.description_en

    @property
    def unit_label(self) -> str:
        return str(UNITS[self.unit])

    @property
    def firmware_label(self) -> str:
        if self.min_firmware == UNKNOWN_FIRMWARE:
            return str(pgettext_lazy("firmware", "unknown"))
        return self.min_firmware


@cache
def details() -> dict[str, FieldDetails]:
    """Every described field by name (the data file has no row for placeholders)."""
    with DETAILS_FILE.open(encoding="utf-8", newline="") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        return {row["name"]: FieldDetails(**row) for row in csv.DictReader(lines, delimiter="\t")}


def details_for(name: str) -> FieldDetails | None:
    return details().get(name)


def firmware_supports(name: str, firmware: tuple[int, ...]) -> bool | None:
    """Whether a car on `firmware` can send the field: None when the field's minimum is
    unknown. A minimum written "2024.44.25 / 2024.45.25" names one release per branch
    (year.minor): the newest of them, or the one of the car's own branch, suffices."""
    entry = details_for(name)
    if entry is None or entry.min_firmware == UNKNOWN_FIRMWARE:
        return None
    minima = [version_key(m) for m in entry.min_firmware.split("/")]
    if None in minima:  # the data file is checked (test_catalogue): a bug, never "any firmware"
        raise ValueError(f"{name}: unreadable minimum firmware {entry.min_firmware!r}")
    if firmware >= max(minima):
        return True
    return any(firmware[:2] == m[:2] and firmware >= m for m in minima)


def details_json() -> dict[str, list[str]]:
    """name → [description, unit, minimum firmware] in the active language, for the builder."""
    return {name: [d.description, d.unit_label, d.firmware_label] for name, d in details().items()}


# --- presets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetRow:
    name: str
    interval_seconds: int
    keep_history: bool = False


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    help: str
    rows: tuple[PresetRow, ...]


def _rows(spec: str, history: str = "") -> tuple[PresetRow, ...]:
    """Rows from `Name:seconds Name:seconds …`; the names in `history` keep history."""
    kept = set(history.split())
    rows = []
    for item in spec.split():
        name, seconds = item.split(":")
        rows.append(PresetRow(name, int(seconds), name in kept))
    return tuple(rows)


# Intervals: what a chart or a session record needs, not the fastest a car can send (values
# are only sent when they changed, so a short interval costs little on a parked car).
PRESETS: tuple[Preset, ...] = (
    Preset(
        "charging",
        _("Charging"),
        _("Charging sessions: state, power, energy added, battery level and limit."),
        _rows(
            "DetailedChargeState:10 BatteryLevel:60 Soc:60 ChargeLimitSoc:300 "
            "ACChargingPower:10 DCChargingPower:10 ACChargingEnergyIn:60 DCChargingEnergyIn:60 "
            "ChargerVoltage:30 ChargeAmps:30 TimeToFullCharge:60 FastChargerPresent:60 "
            "ChargePortDoorOpen:60 EstBatteryRange:300",
            history="DetailedChargeState BatteryLevel ACChargingPower DCChargingPower",
        ),
    ),
    Preset(
        "driving",
        _("Driving"),
        _("Trips: position, speed, gear, odometer, navigation and battery level."),
        _rows(
            "Location:10 GpsHeading:10 VehicleSpeed:5 Gear:5 Odometer:60 BatteryLevel:60 "
            "EstBatteryRange:300 DestinationName:60 MinutesToArrival:60 MilesToArrival:60",
            history="VehicleSpeed Odometer BatteryLevel",
        ),
    ),
    Preset(
        "teslamate",
        _("TeslaMate-like"),
        _(
            "What TeslaMate records: position, speed, power (pack voltage and current), "
            "odometer, battery level and ranges, charging, climate temperatures, tyre "
            "pressures, locks, doors, windows, sentry mode and software version."
        ),
        _rows(
            "Location:5 GpsHeading:5 VehicleSpeed:5 Gear:5 PackVoltage:10 PackCurrent:10 "
            "Odometer:60 BatteryLevel:60 Soc:60 RatedRange:60 IdealBatteryRange:60 "
            "EstBatteryRange:60 DetailedChargeState:10 ACChargingPower:10 DCChargingPower:10 "
            "ACChargingEnergyIn:30 DCChargingEnergyIn:30 ChargerVoltage:30 ChargeAmps:30 "
            "ChargerPhases:60 ChargeLimitSoc:300 TimeToFullCharge:60 FastChargerType:60 "
            "InsideTemp:60 OutsideTemp:60 HvacPower:60 HvacLeftTemperatureRequest:300 "
            "HvacRightTemperatureRequest:300 TpmsPressureFl:300 TpmsPressureFr:300 "
            "TpmsPressureRl:300 TpmsPressureRr:300 Locked:60 SentryMode:60 DoorState:60 "
            "FdWindow:60 FpWindow:60 RdWindow:60 RpWindow:60 Version:3600",
            history="VehicleSpeed Odometer BatteryLevel DetailedChargeState InsideTemp OutsideTemp",
        ),
    ),
)


def preset(key: str) -> Preset | None:
    return next((p for p in PRESETS if p.key == key), None)


# --- signals per day ------------------------------------------------------------------------

# The estimate's ceiling: a car that streams all day. A car that sleeps streams nothing.
STREAMING_HOURS_CEILING = 24
# A second figure on the page, as an example, not a measurement: a car awake two hours a day.
STREAMING_HOURS_EXAMPLE = 2


def signals_per_day(
    rows: Iterable[tuple[int, int | None]], *, hours: float = STREAMING_HOURS_CEILING
) -> int:
    """Most signals one car can send in a day for (interval_seconds, resend_interval_seconds)
    rows, streaming `hours` hours of it.

    A field sends a value at most once per interval, and only when it changed (Tesla's Fleet
    Telemetry page, https://developer.tesla.com/docs/fleet-api/fleet-telemetry); a shorter
    resend interval is counted instead, so the figure stays an upper bound. Each value is one
    billed signal. builder.js mirrors this function: change both together.
    """
    seconds = round(hours * 3600)
    total = 0
    for interval, resend in rows:
        period = min(interval, resend) if resend else interval
        if period >= 1:
            total += math.ceil(seconds / period)
    return total
