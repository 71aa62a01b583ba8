"""Reads for vehicles: the user's list (filtered, sorted, constant queries) and the roster."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User
from vehicles.models import RosterEntry, SyncRun, VehicleAccess

SORTS = {
    "name": ("display_name", "vehicle__vin"),
    "vin": ("vehicle__vin",),
    "model": ("vehicle__model", "display_name", "vehicle__vin"),
    "year": ("-vehicle__model_year", "vehicle__vin"),
    "seen": ("-last_seen_at", "vehicle__vin"),
}


def vehicle_accesses_for_user(
    *,
    user: User,
    q: str = "",
    model: str = "",
    region: str = "",
    key_paired: str = "",
    include_gone: bool = False,
    sort: str = "name",
) -> QuerySet[VehicleAccess]:
    """The user's cars, one row per (link, car), with the car and link joined in."""
    rows = VehicleAccess.objects.filter(link__user=user).select_related("vehicle", "link")
    if not include_gone:
        rows = rows.filter(gone_at__isnull=True)
    if q:
        rows = rows.filter(Q(vehicle__vin__icontains=q.strip()) | Q(display_name__icontains=q))
    if model:
        rows = rows.filter(vehicle__model=model)
    if region:
        rows = rows.filter(vehicle__region=region)
    if key_paired == "yes":
        rows = rows.filter(vehicle__key_paired=True)
    elif key_paired == "no":
        rows = rows.filter(vehicle__key_paired=False)
    elif key_paired == "unknown":
        rows = rows.filter(vehicle__key_paired__isnull=True)
    return rows.order_by(*SORTS.get(sort, SORTS["name"]))


def vehicle_accesses_of_car(*, user: User, vehicle_id: int) -> list[VehicleAccess]:
    """The user's access rows for one car (owner first); empty means "not theirs"."""
    rows = VehicleAccess.objects.filter(link__user=user, vehicle_id=vehicle_id).select_related(
        "vehicle", "link"
    )
    return sorted(rows, key=lambda row: (row.is_driver, row.is_gone, row.pk))


def sync_runs_for_user(*, user: User) -> list[SyncRun]:
    """The latest sync of each of the user's links (a handful of rows: one per link)."""
    latest: dict[int, SyncRun] = {}
    for run in SyncRun.objects.filter(link__user=user).order_by("-created_at")[:20]:
        latest.setdefault(run.link_id, run)
    return list(latest.values())


def roster_entries() -> QuerySet[RosterEntry]:
    """Every roster VIN, with whether some link currently lists it."""
    listed = VehicleAccess.objects.filter(vehicle_id=OuterRef("vehicle_id"), gone_at__isnull=True)
    return RosterEntry.objects.select_related("vehicle").annotate(linked=Exists(listed))
