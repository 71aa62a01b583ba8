from __future__ import annotations

import os

from django.conf import settings
from django.db import connection

from telemetry import services
from telemetry.models import TelemetryRun

GOOD = "5YJ3E1EA7PF000001"  # Model 3, online, fw 2025.20.6
ASLEEP = "7SAYGDEE9RF000002"  # Model Y, asleep
LEGACY = "5YJSA1E26KF000003"  # 2019 Model S: unsupported_hardware
OLD_FW = "5YJXCBE20NF000004"  # fw 2024.8.9: unsupported_firmware
SHARED = "5YJ3E1EB5NF000005"  # owned by alice, bob has DRIVER access
ALL = [GOOD, ASLEEP, LEGACY, OLD_FW, SHARED]


def run_inline(run: TelemetryRun) -> TelemetryRun:
    """What the worker does for a run, in this thread: dispatch, then each link's share."""
    for link_id in services.telemetry_push_dispatch(run_id=run.pk):
        services.telemetry_push_link(run_id=run.pk, link_id=link_id)
    run.refresh_from_db()
    return run


def statuses(config) -> dict[str, tuple[str, str]]:
    from telemetry.models import TelemetryDeployment

    rows = TelemetryDeployment.objects.filter(version__config=config).exclude(
        status=TelemetryDeployment.Status.SUPERSEDED
    )
    return {row.vehicle.vin: (row.status, row.reason) for row in rows.select_related("vehicle")}


def process_env() -> dict[str, str]:
    """The test's own database, broker and keys for a separate portal process (a worker, the
    stream consumer). Development settings (without `.env`) honour these variables where the
    test settings would pick new folders."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database = f"sqlite:///{db['NAME']}"
    else:
        database = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fleetportal.settings.development",
        "DJANGO_READ_DOT_ENV": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
