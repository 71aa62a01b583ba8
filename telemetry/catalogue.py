"""The Fleet Telemetry field catalogue (§6), read once from the bundled copy."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.utils.translation import gettext_lazy as _

# The fields that need the `vehicle_location` scope (§6), for this app's users.
from teslafleet.telemetry import LOCATION_FIELDS  # noqa: F401

FIELDS_FILE = Path(__file__).resolve().parent / "data" / "telemetry-fields.txt"

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
