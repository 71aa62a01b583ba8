"""Writes for configs: the version of a config, the one save (builder and admin), assignment."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from telemetry import selectors
from telemetry.models import (
    TelemetryAssignment,
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryConfigVersion,
)
from telemetry.services import audit
from vehicles.models import Vehicle

Action = TelemetryAuditEntry.Action


def config_payload(config: TelemetryConfig) -> dict[str, Any]:
    """The config body Tesla receives, before the signer adds iss and aud (§5.3)."""
    fields: dict[str, dict[str, Any]] = {}
    for field in config.fields.order_by("name"):
        spec: dict[str, Any] = {"interval_seconds": field.interval_seconds}
        if field.minimum_delta is not None:
            spec["minimum_delta"] = field.minimum_delta
        if field.resend_interval_seconds is not None:
            spec["resend_interval_seconds"] = field.resend_interval_seconds
        fields[field.name] = spec
    payload: dict[str, Any] = {
        "hostname": config.hostname,
        # A JSON number: a string port silently broke streaming (fleet-telemetry #119).
        "port": int(config.port),
        "ca": config.ca,
        "fields": fields,
        "prefer_typed": bool(config.prefer_typed),
    }
    if config.exp is not None:
        payload["exp"] = int(config.exp.timestamp())
    if config.delivery_policy:
        payload["delivery_policy"] = config.delivery_policy
    if config.alert_types:
        payload["alert_types"] = list(config.alert_types)
    return payload


def content_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def telemetry_version_current(
    *, config: TelemetryConfig, user: User | None = None
) -> TelemetryConfigVersion:
    """The version for the config as it is now: an existing one with the same content, or a
    new one. A version is never changed, so a car's config can be compared with ours."""
    payload = config_payload(config)
    digest = content_hash(payload)
    with transaction.atomic():
        # Locked so two saves of one config cannot both take the same next number.
        TelemetryConfig.objects.select_for_update().filter(pk=config.pk).first()
        existing = config.versions.filter(content_hash=digest).first()
        if existing is not None:
            return existing
        last = config.versions.order_by("-number").values_list("number", flat=True).first()
        return TelemetryConfigVersion.objects.create(
            config=config,
            number=(last or 0) + 1,
            content_hash=digest,
            payload=payload,
            created_by=user,
        )


def telemetry_config_saved(
    *, config: TelemetryConfig, user: User | None, created: bool
) -> TelemetryConfigVersion:
    """After the builder or the admin saved a config and its fields: version and audit."""
    before = config.versions.count()
    version = telemetry_version_current(config=config, user=user)
    is_new = config.versions.count() > before
    audit.record(
        action=Action.CREATED if created else Action.EDITED,
        config=config,
        user=user,
        version=version,
        outcome=_("new version") if is_new else _("content unchanged"),
    )
    return version


class StaleEdit(Exception):
    """The config was saved by someone else after this editor opened it."""


def telemetry_config_save(
    *,
    form: forms.ModelForm,
    formsets: Iterable[forms.BaseInlineFormSet],
    user: User | None,
    revision: str | None = None,
) -> tuple[TelemetryConfig, TelemetryConfigVersion]:
    """Save a config and its fields from valid forms, then version and audit it: the one
    save of the builder and the admin.

    With a `revision` (what the editor opened), the config row is locked and a save made from
    an older revision is refused with StaleEdit, nothing saved: it would silently undo the
    other editor's changes. An IntegrityError (two saves of one field or name at once) also
    leaves nothing saved.
    """
    created = form.instance.pk is None
    with transaction.atomic():
        if not created and revision is not None:
            TelemetryConfig.objects.select_for_update().filter(pk=form.instance.pk).first()
            if revision and revision != selectors.config_revision(form.instance):
                raise StaleEdit
        config = form.save(commit=False)
        if created and config.created_by_id is None:
            config.created_by = user
        config.save()
        form.save_m2m()
        for formset in formsets:
            formset.instance = config
            formset.save()
        # Fields are saved by now: the version hashes the whole config, fields included.
        version = telemetry_config_saved(config=config, user=user, created=created)
    return config, version


@dataclasses.dataclass(frozen=True)
class AssignOutcome:
    """What one assignment did, by VIN: put on the config (`moved` is the part taken off
    another config), already on it, and the asked-for vehicle ids the portal no longer has."""

    assigned: list[str] = dataclasses.field(default_factory=list)
    moved: list[str] = dataclasses.field(default_factory=list)
    already: list[str] = dataclasses.field(default_factory=list)
    missing: list[int] = dataclasses.field(default_factory=list)
    # Of `assigned`, the cars whose key is not known to be paired: Tesla skips them at push.
    key_not_paired: list[str] = dataclasses.field(default_factory=list)


# Rows looked up and written per statement: keeps a fleet-wide assignment under SQLite's
# limit of parameters per statement, in a few statements per batch.
ASSIGN_BATCH = 500


def telemetry_config_assign_vehicles(
    *, config: TelemetryConfig, vehicle_ids: Iterable[int], user: User | None
) -> AssignOutcome:
    """Assign the config to these vehicles (moving them off another config): the one
    assignment the config page's paste and the fleet list share. All or nothing: one
    transaction; one audit entry naming the cars that changed."""
    ids = list(dict.fromkeys(vehicle_ids))
    outcome = AssignOutcome()
    with transaction.atomic():
        for start in range(0, len(ids), ASSIGN_BATCH):
            batch = ids[start : start + ASSIGN_BATCH]
            rows = Vehicle.objects.filter(pk__in=batch).values_list("pk", "vin", "key_paired")
            cars = {pk: vin for pk, vin, _paired in rows}
            paired = {pk for pk, _vin, key_paired in rows if key_paired}
            current = dict(
                TelemetryAssignment.objects.filter(vehicle_id__in=cars).values_list(
                    "vehicle_id", "config_id"
                )
            )
            changed = [pk for pk in cars if current.get(pk) != config.pk]
            # One upsert per batch; a concurrent assignment of the same car is overwritten
            # (the last one wins, as update_or_create did), never a duplicate row.
            TelemetryAssignment.objects.bulk_create(
                [
                    TelemetryAssignment(vehicle_id=pk, config=config, assigned_by=user)
                    for pk in changed
                ],
                update_conflicts=True,
                unique_fields=["vehicle"],
                update_fields=["config", "assigned_by"],
            )
            outcome.assigned.extend(cars[pk] for pk in changed)
            outcome.moved.extend(cars[pk] for pk in changed if pk in current)
            outcome.already.extend(cars[pk] for pk in cars if pk not in changed)
            outcome.missing.extend(pk for pk in batch if pk not in cars)
            outcome.key_not_paired.extend(cars[pk] for pk in changed if pk not in paired)
        if outcome.assigned:
            audit.record(action=Action.ASSIGNED, config=config, user=user, vins=outcome.assigned)
    for names in (outcome.assigned, outcome.moved, outcome.already, outcome.key_not_paired):
        names.sort()
    return outcome


def telemetry_config_assign(
    *, config: TelemetryConfig, vins: list[str], user: User | None
) -> tuple[list[str], list[str]]:
    """Assign the config to the vehicles with these VINs; returns (VINs on the config now,
    VINs the portal does not know)."""
    known = dict(Vehicle.objects.filter(vin__in=vins).values_list("vin", "pk"))
    outcome = telemetry_config_assign_vehicles(config=config, vehicle_ids=known.values(), user=user)
    return sorted(outcome.assigned + outcome.already), sorted(set(vins) - set(known))
