"""Acting on the stream's truth: resync one car, and tell staff when a streaming car goes
silent (once per incident)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import User
from fleetportal.mail import send_mail_in_their_language
from fleetportal.permissions import MANAGE_TELEMETRY, staff_holding
from telemetry import selectors, streaming
from telemetry.models import TelemetryAssignment, TelemetryRun, VehicleStream
from telemetry.services import push
from vehicles.models import Vehicle

# Stored in the audit log in English, shown in the reader's language.
RESYNC_OUTCOME = gettext_noop("resync of one vehicle, queued for the worker")


class NothingToResync(Exception):
    """Why a resync would do nothing; the message is for the user, translated."""


def _under_way(config) -> str:
    return _(
        "A push of %(name)s is under way (perhaps the resync you just asked for): "
        "wait for it to finish, then resync if the car still needs it."
    ) % {"name": config.name}


def telemetry_vehicle_resync(*, vehicle: Vehicle, user: User | None) -> TelemetryRun:
    """Re-post the vehicle's config (its current version) to this one car, through the push
    machinery: the car then sends every configured field once (§10.2, fleet-telemetry #246).

    Raises NothingToResync when there is nothing to re-post or a push already covers it, and
    QueueUnavailable (nothing changed) when the broker does not answer.
    """
    assignment = (
        TelemetryAssignment.objects.select_related("config").filter(vehicle=vehicle).first()
    )
    if assignment is None:
        raise NothingToResync(
            _(
                "No configuration is assigned to this vehicle, so there is nothing to resync: "
                "assign one on a configuration's page and push it."
            )
        )
    config = assignment.config
    if not config.fields.exists():
        raise NothingToResync(
            _("The configuration %(name)s has no fields: add some before pushing it.")
            % {"name": config.name}
        )
    # A second push now would supersede the running one and fail its other cars: wait for it.
    if TelemetryRun.objects.filter(config=config, status__in=TelemetryRun.ACTIVE).exists():
        raise NothingToResync(_under_way(config))
    if not selectors.owner_links([vehicle.pk]):
        raise NothingToResync(
            _(
                "No linked owner account lists this vehicle: Tesla accepts telemetry configs "
                "only from the owner's account. Ask the owner to link it, then resync."
            )
        )
    try:
        # Checked again under the config's lock: a push started since the check above (a
        # second click, a fleet-wide push) must not be replaced by this one-car resync.
        return push.telemetry_push_start(
            config=config,
            user=user,
            vehicle_ids=[vehicle.pk],
            outcome=RESYNC_OUTCOME,
            only_if_idle=True,
        )
    except push.PushUnderWay:
        raise NothingToResync(_under_way(config)) from None
    except push.ConfigExpired as exc:
        raise NothingToResync(str(exc)) from None


def telemetry_managers() -> list[User]:
    """Whom a silence is told to: the people the telemetry staff gate lets in, with an email."""
    return list(staff_holding(MANAGE_TELEMETRY).exclude(email="").order_by("email"))


def telemetry_stream_watch(*, now: dt.datetime | None = None) -> int:
    """Close incidents whose car sent data again, then email staff about each car that was
    streaming and is silent now, once per incident. Returns how many cars were reported.

    VehicleStream.silent_notified_at marks a reported incident; the consumer moves
    last_message_at, and data after the report ends the incident here.
    """
    now = now or timezone.now()
    VehicleStream.objects.filter(
        silent_notified_at__isnull=False, last_message_at__gt=F("silent_notified_at")
    ).update(silent_notified_at=None)
    # "Was streaming": it sent data once, and its incident (if any) is not reported yet.
    candidates = list(
        VehicleStream.objects.filter(
            last_message_at__isnull=False, silent_notified_at__isnull=True
        ).values_list("vehicle_id", flat=True)
    )
    if not candidates:
        return 0
    silent = [
        row
        for row in streaming.stream_states(vehicle_ids=candidates, now=now)
        if row.state.state == streaming.State.SILENT
    ]
    if not silent:
        return 0
    with transaction.atomic():
        # Two beats at once (a re-queued duplicate): the row lock and the null check make
        # each incident claimed by one of them only.
        claimed = set(
            VehicleStream.objects.select_for_update(skip_locked=True)
            .filter(vehicle_id__in=[r.vehicle_id for r in silent], silent_notified_at__isnull=True)
            .values_list("vehicle_id", flat=True)
        )
        VehicleStream.objects.filter(vehicle_id__in=claimed).update(silent_notified_at=now)
    rows = [r for r in silent if r.vehicle_id in claimed]
    if not rows:
        return 0
    try:
        _send_silent_email(rows)
    except Exception:
        # Not told: the next beat tries again.
        VehicleStream.objects.filter(vehicle_id__in=claimed, silent_notified_at=now).update(
            silent_notified_at=None
        )
        raise
    return len(rows)


def _send_silent_email(rows: list[streaming.VehicleStreamState]) -> None:
    recipients = telemetry_managers()
    if not recipients:
        return
    base = settings.PORTAL_PUBLIC_URL.rstrip("/")
    cars = [
        {
            "vin": r.vin,
            "config": r.state.config_name,
            "last_data_at": r.state.last_data_at,
            "url": base + reverse("telemetry:vehicle", args=[r.vehicle_id]),
        }
        for r in rows
    ]
    context = {"cars": cars, "overview_url": base + reverse("telemetry:overview")}
    send_mail_in_their_language("telemetry/email/silent", context, recipients)
