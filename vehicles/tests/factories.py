from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from accounts.models import TeslaLink, User
from vehicles.models import Vehicle, VehicleAccess

_subjects = itertools.count(1)


def make_link(user: User, *, region: str = "NA") -> TeslaLink:
    """A healthy stored link (no Tesla behind it: for tests that make no outbound call)."""
    now = timezone.now()
    return TeslaLink.objects.create(
        user=user,
        auth_server="global",
        subject=f"subject-{next(_subjects)}",
        region=region,
        fleet_api_base_url="https://fleet-api.prd.na.vn.cloud.tesla.com",
        scopes=["openid", "offline_access", "vehicle_device_data"],
        access_token="not-a-real-token",
        refresh_token="not-a-real-refresh-token",
        access_token_expires_at=now + dt.timedelta(hours=8),
        refresh_token_issued_at=now,
    )


def make_vehicles(link: TeslaLink, count: int, *, prefix: str = "TST") -> list[Vehicle]:
    """`count` cars seen by the link, created in bulk."""
    now = timezone.now()
    start = Vehicle.objects.count()
    vehicles = Vehicle.objects.bulk_create(
        [
            Vehicle(
                vin=f"{prefix}{start + n:014d}"[:17],
                model="3" if n % 2 else "Y",
                model_year=2024,
                region=link.region,
                key_paired=n % 3 == 0,
            )
            for n in range(count)
        ]
    )
    vehicles = list(Vehicle.objects.filter(vin__in=[v.vin for v in vehicles]))
    VehicleAccess.objects.bulk_create(
        [
            VehicleAccess(
                link=link,
                vehicle=vehicle,
                tesla_id=str(n),
                display_name=f"Car {n}",
                state="online",
                last_seen_at=now,
            )
            for n, vehicle in enumerate(vehicles)
        ]
    )
    return vehicles
