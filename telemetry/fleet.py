"""Reads for the staff fleet list: every vehicle the portal knows, filtered, in a fixed number
of queries whatever the fleet's size.

Region, model, key, roster, linked accounts and the assigned config filter in the database;
firmware (a dotted version compared number by number) and the streaming state (worked out by
`telemetry.streaming` from several tables) filter the matching ids in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, QuerySet

from telemetry import catalogue, streaming
from vehicles.models import RosterEntry, Vehicle, VehicleAccess

# A firmware filter as staff type it: "2024.26", "2024.44.25.1".
FIRMWARE_FILTER = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4}){0,4}")


@dataclass(frozen=True)
class FleetFilters:
    vin: str = ""
    region: str = ""
    model: str = ""
    key_paired: str = ""  # "yes", "no", "unknown"
    firmware_min: str = ""
    firmware_below: str = ""
    roster: str = ""  # "yes", "no"
    linked: str = ""  # "yes", "no"
    config: str = ""  # a config id, or NO_CONFIG
    state: str = ""  # a streaming.State


NO_CONFIG = "none"


def _vehicles(filters: FleetFilters) -> QuerySet[Vehicle]:
    rows = Vehicle.objects.all()
    if filters.vin:
        rows = rows.filter(vin__icontains=filters.vin)
    if filters.region:
        rows = rows.filter(region=filters.region)
    if filters.model:
        rows = rows.filter(model=filters.model)
    if filters.key_paired == "unknown":
        rows = rows.filter(key_paired__isnull=True)
    elif filters.key_paired:
        rows = rows.filter(key_paired=filters.key_paired == "yes")
    if filters.roster:
        on_roster = Exists(RosterEntry.objects.filter(vin=OuterRef("vin")))
        rows = rows.filter(on_roster if filters.roster == "yes" else ~on_roster)
    if filters.linked:
        linked = Exists(
            VehicleAccess.objects.filter(vehicle_id=OuterRef("pk"), gone_at__isnull=True)
        )
        rows = rows.filter(linked if filters.linked == "yes" else ~linked)
    if filters.config == NO_CONFIG:
        rows = rows.filter(telemetry_assignment__isnull=True)
    elif filters.config:
        rows = rows.filter(telemetry_assignment__config_id=int(filters.config))
    return rows


def fleet_vehicle_ids(filters: FleetFilters) -> list[int]:
    """The ids of every vehicle matching the filters, by VIN: one query, or eight with a state
    filter (the streaming state of the whole fleet, as the overview reads it)."""
    rows = _vehicles(filters).order_by("vin").values_list("pk", "firmware_version")
    at_least = catalogue.version_key(filters.firmware_min) if filters.firmware_min else None
    below = catalogue.version_key(filters.firmware_below) if filters.firmware_below else None
    ids = []
    for pk, firmware in rows:
        if at_least or below:
            version = catalogue.version_key(firmware)
            # An unknown firmware matches neither "at least" nor "below": it is not known.
            if version is None or (at_least and version < at_least):
                continue
            if below and version >= below:
                continue
        ids.append(pk)
    if filters.state:
        in_state = {
            row.vehicle_id for row in streaming.stream_states() if row.state.state == filters.state
        }
        ids = [pk for pk in ids if pk in in_state]
    return ids


@dataclass
class FleetRow:
    vehicle: Vehicle
    stream: streaming.StreamState


def fleet_rows(ids: list[int]) -> list[FleetRow]:
    """One page of the list, in the order of `ids`: the car, its assigned config, roster note,
    linked accounts and streaming state, in eight queries."""
    linked = (
        VehicleAccess.objects.filter(vehicle_id=OuterRef("pk"), gone_at__isnull=True)
        .order_by()
        .values("vehicle_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    roster = RosterEntry.objects.filter(vin=OuterRef("vin"))
    vehicles = {
        v.pk: v
        for v in Vehicle.objects.filter(pk__in=ids).annotate(
            config_id=F("telemetry_assignment__config_id"),
            config_name=F("telemetry_assignment__config__name"),
            on_roster=Exists(roster),
            roster_note=roster.values("note")[:1],
            accounts=linked,
        )
    }
    states = {row.vehicle_id: row.state for row in streaming.stream_states(vehicle_ids=ids)}
    return [FleetRow(vehicles[pk], states[pk]) for pk in ids if pk in vehicles and pk in states]


def known_vins(vins: list[str]) -> set[str]:
    """Which of these VINs the portal has a vehicle for."""
    return set(Vehicle.objects.filter(vin__in=vins).values_list("vin", flat=True))


def fleet_is_empty() -> bool:
    return not Vehicle.objects.exists()
