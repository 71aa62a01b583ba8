"""Reconcile: ask Tesla whether each car adopted (and still holds) the config we pushed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import TeslaLink
from accounts.services import LinkBroken, link_fleet_call
from partners import selectors as partner_selectors
from telemetry import selectors
from telemetry.models import (
    TelemetryDeployment,
)
from teslafleet import jws
from teslafleet.errors import TeslaError, TransientError
from usage import services as usage_services

Status = TelemetryDeployment.Status


def _recheck_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TELEMETRY_RECHECK_SECONDS)


def telemetry_reconcile_due(*, limit: int = 500) -> list[int]:
    """Deployments to ask Tesla about: accepted and not yet adopted, or adopted a while ago
    (a car can drop a config: revoked scope, another app's push, expiry). None while usage
    is above the month's budget (docs/usage.md): the sweep then waits."""
    if usage_services.optional_work_paused():
        return []
    stale = timezone.now() - _recheck_after()
    rows = TelemetryDeployment.objects.filter(
        Q(status__in=TelemetryDeployment.WAITING)
        | Q(status__in=(Status.SYNCED, Status.DRIFT), checked_at__lt=stale)
    ).order_by(F("checked_at").asc(nulls_first=True))
    return list(rows.values_list("pk", flat=True)[:limit])


def _matches(ours: dict[str, Any], theirs: dict[str, Any], issuer: str | None) -> bool:
    body = {k: v for k, v in theirs.items() if k not in ("aud", "iss")}
    if issuer is not None and theirs.get("iss") not in (None, issuer):
        return False
    # Compared as JSON values: 5 and 5.0 are the same number on both sides.
    return json.loads(json.dumps(body)) == json.loads(json.dumps(ours))


def _our_issuer() -> str | None:
    """The `iss` our configs carry, from the registered public key: reading the private key
    (decrypt, PEM parse) per reconciled car cost more CPU than the rest of the check."""
    row = partner_selectors.partner_key()
    if row is None or not row.public_key_hex:
        return None
    try:
        return jws.issuer_for(bytes.fromhex(row.public_key_hex))
    except ValueError:
        return None  # not a P-256 point: compare the config without its issuer


def telemetry_deployment_reconcile(*, deployment_id: int) -> str:
    """Ask Tesla where one deployment stands; synced needs `synced` true AND a non-null
    config that matches ours (§5.4, §9)."""
    row = (
        TelemetryDeployment.objects.select_related("vehicle", "version", "link")
        .filter(pk=deployment_id)
        .first()
    )
    if row is None or row.status not in (Status.UPDATED, Status.SYNCED, Status.DRIFT):
        return "skip"
    link = row.link or selectors.owner_link(row.vehicle_id)
    if link is None:
        return "no_link"
    try:
        state = link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_config(row.vehicle.vin))
    except LinkBroken:
        return "link_broken"
    except TransientError:
        raise
    except TeslaError as exc:
        # Permanent for this call (404: car gone from the account, 403: scope revoked): keep
        # the state, show why, and let the next sweep ask again.
        TelemetryDeployment.objects.filter(pk=row.pk).update(
            error=str(exc)[:2000], checked_at=timezone.now()
        )
        return "error"
    now = timezone.now()
    status, error = row.status, row.error
    if not state.synced:
        status = Status.UPDATED if row.status == Status.UPDATED else Status.REMOVED
    elif not state.holds_config:
        if state.limit_reached:
            status = Status.LIMIT_REACHED
        elif row.status == Status.UPDATED:
            status = Status.REJECTED
            error = _latest_vehicle_error(link, row.vehicle.vin) or error
        else:
            status = Status.REMOVED
    elif state.config is not None and _matches(row.version.payload, state.config, _our_issuer()):
        status = Status.SYNCED
    else:
        status = Status.DRIFT
    fields: dict[str, Any] = {"status": status, "checked_at": now, "error": error}
    if status == Status.SYNCED and row.synced_at is None:
        fields["synced_at"] = now
    if status == Status.REMOVED:
        fields["removed_at"] = now
    # Conditional on the state we read: a push or removal that moved the row meanwhile wins
    # over this (older) answer, and the next sweep looks again.
    TelemetryDeployment.objects.filter(pk=row.pk, status=row.status).update(**fields)
    return status


def _latest_vehicle_error(link: TeslaLink, vin: str) -> str:
    try:
        errors = link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_errors(vin))
    except (LinkBroken, TeslaError):
        return ""
    errors = sorted(errors, key=lambda e: e.created_at)
    return errors[-1].error if errors else ""
