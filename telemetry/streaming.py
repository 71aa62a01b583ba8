"""Each vehicle's streaming truth: does data really arrive, and if not, why and what fixes it.

A push ends at "synced" (§5.4), but a car can answer synced and hold no config, stream late,
stop until rebooted, or never send a field its firmware lacks (§10.2). `stream_state` reads
the state from plain facts (the vehicle's current deployment, the config body it holds, what
the stream showed); `stream_states` gathers those facts for many vehicles in a fixed number of
queries. Both are reads: nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telemetry import explanations
from telemetry.models import (
    StreamEvent,
    StreamValue,
    TelemetryAssignment,
    TelemetryConfigVersion,
    TelemetryDeployment,
    VehicleStream,
)
from vehicles.models import Vehicle

Status = TelemetryDeployment.Status

# The error a car reports for a field its telemetry client cannot send (fleet-telemetry #276).
UNSUPPORTED_FIELD = "unsupported_field"


class State(models.TextChoices):
    """In the order the overview lists them: from "nothing set up" to "data arrives"."""

    NO_CONFIG = "no_config", gettext_lazy("No configuration")
    PUSH_FAILED = "push_failed", gettext_lazy("Push did not reach the car")
    REJECTED = "rejected", gettext_lazy("Rejected by the car")
    WAITING_CAR = "waiting_car", gettext_lazy("Waiting for the car")
    WAITING_DATA = "waiting_data", gettext_lazy("Waiting for first data")
    CONNECTED_NO_DATA = "connected_no_data", gettext_lazy("Connected, no data")
    SILENT = "silent", gettext_lazy("Silent")
    OFFLINE = "offline", gettext_lazy("Offline (asleep)")
    LATE = "late", gettext_lazy("Data late")
    FIELD_MISSING = "field_missing", gettext_lazy("Field missing")
    STREAMING = "streaming", gettext_lazy("Streaming")


# How a state reads at a glance (CSS classes state-good / state-wait / state-bad).
TONE = {
    State.NO_CONFIG: "idle",
    State.PUSH_FAILED: "bad",
    State.REJECTED: "bad",
    State.WAITING_CAR: "wait",
    State.WAITING_DATA: "wait",
    State.CONNECTED_NO_DATA: "bad",
    State.SILENT: "bad",
    State.OFFLINE: "idle",
    State.LATE: "wait",
    State.FIELD_MISSING: "warn",
    State.STREAMING: "good",
}

# What fixes a skip (§5.1), as the kind of action the page offers.
SKIP_ACTION = {
    "missing_key": "pair_key",
    "unsupported_firmware": "update_firmware",
    "max_configs": "free_slot",
    "unsupported_hardware": "remove",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    interval_seconds: int
    resend_interval_seconds: int | None = None


@dataclass(frozen=True)
class DeploymentFacts:
    """The vehicle's current deployment (its newest one not replaced by another)."""

    status: str
    fields: tuple[FieldSpec, ...] = ()
    reason: str = ""
    error: str = ""
    pushed_at: dt.datetime | None = None
    synced_at: dt.datetime | None = None
    version_number: int | None = None


@dataclass(frozen=True)
class StreamFacts:
    """A VehicleStream row's facts."""

    last_message_at: dt.datetime | None = None
    connectivity: str = ""
    connectivity_at: dt.datetime | None = None
    connected_at: dt.datetime | None = None


@dataclass
class StreamState:
    state: State
    explanation: str
    # What fixes it, in words, and as a kind the page can act on: "push", "resync", "pair_key",
    # "update_firmware", "free_slot", "remove", "wait" or "" (nothing to do).
    action: str
    action_kind: str
    # The expected window between messages and the silence threshold, in seconds (0: no config).
    window_seconds: int = 0
    silent_after_seconds: int = 0
    last_data_at: dt.datetime | None = None
    missing_fields: list[str] = field(default_factory=list)
    # Configured field → the body of the car's unsupported_field error naming it.
    unsupported: dict[str, str] = field(default_factory=dict)
    # The deployment's recorded error (may name the owner's link: staff pages only).
    detail: str = ""
    config_id: int | None = None
    config_name: str = ""
    version_number: int | None = None

    @property
    def label(self) -> str:
        return str(self.state.label)

    @property
    def tone(self) -> str:
        return TONE[self.state]


def expected_window(fields: Iterable[FieldSpec], slack_seconds: int) -> int:
    """The longest a car should stay quiet: its largest interval (or resend interval)
    plus slack."""
    longest = max(
        (max(f.interval_seconds, f.resend_interval_seconds or 0) for f in fields), default=0
    )
    return longest + slack_seconds


def _resync_action() -> str:
    return _(
        "Resync: re-posting the config makes the car send every configured field once. If "
        "nothing comes, check that the telemetry server is reachable and its certificate "
        "matches the config's CA, that the portal's key is paired on the car, and the car's "
        "errors; a car that stopped streaming often needs a reboot."
    )


def stream_state(
    *,
    deployment: DeploymentFacts | None,
    stream: StreamFacts | None,
    received: Mapping[str, dt.datetime],
    unsupported: Mapping[str, str],
    now: dt.datetime,
    slack_seconds: int,
    silent_factor: int,
    firmware_version: str = "",
    telemetry_version: str = "",
    assigned: bool = False,
) -> StreamState:
    """One vehicle's streaming state from plain facts (no database).

    `received`: configured field → when its latest value arrived (StreamValue).
    `unsupported`: field → the body of an unsupported_field error whose tags name it.
    `assigned`: a config is assigned to the vehicle (says "push it" rather than "assign one").
    """
    if deployment is None or deployment.status in (Status.REMOVED, Status.REMOVING):
        if assigned and deployment is None:
            explanation = _("A configuration is assigned to this car but was never pushed.")
            action = _("Push the configuration from its page.")
        elif deployment is not None:
            explanation = _("The telemetry configuration was removed from this car.")
            action = _("Assign a configuration and push it, if this car should stream.")
        else:
            explanation = _("No telemetry configuration was pushed to this car.")
            action = _("Assign a configuration and push it, if this car should stream.")
        return StreamState(State.NO_CONFIG, explanation, action, "push")

    window = expected_window(deployment.fields, slack_seconds)
    silent_after = window * silent_factor
    last = stream.last_message_at if stream else None
    common = {
        "window_seconds": window,
        "silent_after_seconds": silent_after,
        "last_data_at": last,
        "detail": deployment.error,
        "version_number": deployment.version_number,
    }

    if deployment.status in (Status.SKIPPED, Status.FAILED):
        if deployment.status == Status.SKIPPED:
            skip = explanations.explain_skip(deployment.reason)
            explanation = _("Tesla skipped this car: %(why)s.") % {"why": skip["label"]}
            action = skip["fix"] or _("Fix the cause, then resync.")
            kind = SKIP_ACTION.get(deployment.reason, "resync")
        else:
            explanation = _("The push did not reach the car (the error is shown below).")
            action = explanations.explain_error(deployment.error) or _(
                "Fix the cause of the error, then resync."
            )
            kind = "resync"
        return StreamState(State.PUSH_FAILED, explanation, action, kind, **common)

    if deployment.status == Status.LIMIT_REACHED:
        return StreamState(
            State.REJECTED,
            _(
                "The car answered synced but is at its limit of streaming apps: it did not "
                "take the config."
            ),
            _(
                "Free an app slot: the owner removes another app's telemetry config from the "
                "car (or revokes that app), then resync."
            ),
            "free_slot",
            **common,
        )
    if deployment.status == Status.REJECTED:
        known = explanations.explain_error(deployment.error)
        return StreamState(
            State.REJECTED,
            _(
                "The car answered synced but holds no config: it refused it (too many apps, "
                "or signed with a key it does not know)."
            ),
            known
            or _(
                "Pair the portal's key on the car or free an app slot (see the car's errors), "
                "then resync."
            ),
            "pair_key" if known else "resync",
            **common,
        )
    if deployment.status == Status.DRIFT:
        return StreamState(
            State.REJECTED,
            _("The car holds a different config from the one pushed (another push or app)."),
            _("Resync to put this version back on the car."),
            "resync",
            **common,
        )
    # Data that came after the push proves the car took a config that streams to us, before
    # reconcile's next GET says synced (a re-push also sets the row back to "updated").
    proven = (
        deployment.status == Status.UPDATED
        and last is not None
        and deployment.pushed_at is not None
        and last >= deployment.pushed_at
    )
    if deployment.status in (Status.PENDING, Status.UPDATED) and not proven:
        if deployment.status == Status.PENDING:
            explanation = _("The push is queued: Tesla has not been asked yet.")
            action = _("Wait for the push to finish.")
        else:
            explanation = _(
                "Tesla accepted the config; the car takes it the next time it is online."
            )
            action = _(
                "Wait. If it lasts more than a day, ask the owner to wake the car and to "
                "update its software."
            )
        return StreamState(State.WAITING_CAR, explanation, action, "wait", **common)

    # Synced (or proven by data): the car holds our config. From here on the stream tells.
    applied = deployment.pushed_at if proven else (deployment.synced_at or deployment.pushed_at)
    # The car may send its fields between the push and the moment reconcile saw it synced:
    # a value counts from the push on.
    since = deployment.pushed_at or deployment.synced_at
    connected_at = stream.connected_at if stream else None
    connected = bool(stream and stream.connectivity == VehicleStream.Connectivity.CONNECTED)

    def age(at: dt.datetime | None) -> float:
        return (now - at).total_seconds() if at else float("inf")

    if last is not None and age(last) <= window:
        missing = []
        if age(applied) > window:
            missing = [
                f.name
                for f in deployment.fields
                if f.name not in received or (since and received[f.name] < since)
            ]
        if missing:
            named = {name: unsupported[name] for name in missing if name in unsupported}
            versions = _("Car software %(firmware)s, telemetry client %(client)s.") % {
                "firmware": firmware_version or _("unknown"),
                "client": telemetry_version or _("unknown"),
            }
            explanation = _(
                "Data arrives, but these configured fields never came since the config was "
                "applied: %(fields)s."
            ) % {"fields": ", ".join(missing)}
            if named:
                explanation += " " + _("The car reported it cannot send: %(fields)s.") % {
                    "fields": ", ".join(sorted(named))
                }
                action = _(
                    "Update the car's software (its telemetry client is too old for these "
                    "fields), or remove them from the config."
                )
                kind = "update_firmware"
            else:
                action = _(
                    "Resync: the car sends every configured field once. If they still do not "
                    "come, the car's software may not support them: update it."
                )
                kind = "resync"
            return StreamState(
                State.FIELD_MISSING,
                f"{explanation} {versions}",
                action,
                kind,
                missing_fields=missing,
                unsupported=named,
                **common,
            )
        return StreamState(State.STREAMING, _("Data arrives."), "", "", **common)

    if connected and connected_at is not None and (last is None or last < connected_at):
        if age(connected_at) <= window:
            return StreamState(
                State.WAITING_DATA,
                _("The car connected to the telemetry server; its data has not come yet."),
                _("Wait a few minutes."),
                "wait",
                **common,
            )
        return StreamState(
            State.CONNECTED_NO_DATA,
            _("The car connected to the telemetry server but has sent no data since."),
            _(
                "Usually the config is signed with a key the car does not know (pair the "
                "portal's key) or the car reported an error: check its errors, then resync."
            ),
            "resync",
            **common,
        )
    if last is None:
        if age(applied) <= silent_after:
            return StreamState(
                State.WAITING_DATA,
                _("The car took the config; its first data has not come yet."),
                _("Wait a few minutes."),
                "wait",
                **common,
            )
        return StreamState(
            State.SILENT,
            _("The car took the config but has sent no data since."),
            _resync_action(),
            "resync",
            **common,
        )
    disconnected_at = (
        stream.connectivity_at
        if stream and stream.connectivity == VehicleStream.Connectivity.DISCONNECTED
        else None
    )
    if disconnected_at is not None and disconnected_at >= last:
        return StreamState(
            State.OFFLINE,
            _(
                "The car closed its connection to the telemetry server: usually it is asleep "
                "or out of coverage."
            ),
            _(
                "Nothing to do: it sends again when it wakes. If it stays away for days, ask "
                "the owner whether the car is online."
            ),
            "wait",
            **common,
        )
    if age(last) <= silent_after:
        return StreamState(
            State.LATE,
            _(
                "Data is later than this config's window of %(window)d s: cars send only "
                "values that change, so a parked car can be quiet."
            )
            % {"window": window},
            _("Nothing yet: the car counts as silent after %(silent)d s without data.")
            % {"silent": silent_after},
            "wait",
            **common,
        )
    return StreamState(
        State.SILENT,
        _(
            "No data for far longer than this config's window of %(window)d s, and the car "
            "did not say it disconnected."
        )
        % {"window": window},
        _resync_action(),
        "resync",
        **common,
    )


# --- Reads: the facts for many vehicles in a fixed number of queries --------------------------


@dataclass
class VehicleStreamState:
    vehicle_id: int
    vin: str
    state: StreamState


def _fields_of(payload: dict) -> tuple[FieldSpec, ...]:
    specs = []
    for name, spec in sorted((payload or {}).get("fields", {}).items()):
        spec = spec or {}
        specs.append(
            FieldSpec(
                name=name,
                interval_seconds=int(spec.get("interval_seconds") or 0),
                resend_interval_seconds=spec.get("resend_interval_seconds"),
            )
        )
    return tuple(specs)


def _unsupported_names(tags: dict) -> set[str]:
    """The field names an unsupported_field error's tags give: its values (a name or a
    comma-separated list), and its keys for tags shaped {field: reason}."""
    names = set()
    for key, value in (tags or {}).items():
        names.add(str(key))
        if isinstance(value, str):
            names.update(part.strip() for part in value.split(","))
    return names


def stream_states(
    *, vehicle_ids: Iterable[int] | None = None, now: dt.datetime | None = None
) -> list[VehicleStreamState]:
    """The streaming state of these vehicles (all of them when None), ordered by VIN.

    Seven queries whatever the number of vehicles: vehicles, assignments, deployments,
    versions, streams, latest values, unsupported_field errors.
    """
    now = now or timezone.now()
    vehicles = Vehicle.objects.order_by("vin")
    if vehicle_ids is not None:
        vehicles = vehicles.filter(pk__in=list(vehicle_ids))
    cars = list(vehicles.values_list("pk", "vin", "firmware_version", "telemetry_version"))
    ids = [car[0] for car in cars]

    assigned: dict[int, tuple[int, str]] = {
        vehicle_id: (config_id, name)
        for vehicle_id, config_id, name in TelemetryAssignment.objects.filter(
            vehicle_id__in=ids
        ).values_list("vehicle_id", "config_id", "config__name")
    }
    # The current deployment: the newest one a newer push has not replaced.
    current: dict[int, dict] = {}
    rows = (
        TelemetryDeployment.objects.filter(vehicle_id__in=ids)
        .exclude(status=Status.SUPERSEDED)
        .order_by("vehicle_id", "-updated_at", "-pk")
        .values(
            "vehicle_id",
            "version_id",
            "status",
            "reason",
            "error",
            "pushed_at",
            "synced_at",
        )
    )
    for row in rows:
        current.setdefault(row["vehicle_id"], row)
    versions = {
        v["pk"]: v
        for v in TelemetryConfigVersion.objects.filter(
            pk__in={row["version_id"] for row in current.values()}
        ).values("pk", "number", "payload", "config_id", "config__name")
    }
    streams = {
        s.vehicle_id: s
        for s in VehicleStream.objects.filter(vehicle_id__in=ids).only(
            "vehicle_id", "last_message_at", "connectivity", "connectivity_at", "connected_at"
        )
    }
    # Only the values of a car that holds the config matter (field missing): synced, or
    # updated and proven by data before reconcile says synced. The others' are not loaded.
    synced = [v for v, row in current.items() if row["status"] in (Status.SYNCED, Status.UPDATED)]
    received: dict[int, dict[str, dt.datetime]] = {}
    for vehicle_id, name, at in StreamValue.objects.filter(vehicle_id__in=synced).values_list(
        "vehicle_id", "field", "received_at"
    ):
        received.setdefault(vehicle_id, {})[name] = at
    errors: dict[int, list[tuple[set[str], str]]] = {}
    for vehicle_id, tags, body in (
        StreamEvent.objects.filter(
            vehicle_id__in=ids, kind=StreamEvent.Kind.ERROR, name=UNSUPPORTED_FIELD
        )
        .order_by("-received_at")
        .values_list("vehicle_id", "tags", "body")
    ):
        errors.setdefault(vehicle_id, []).append((_unsupported_names(tags), body))

    slack = settings.TELEMETRY_STREAM_SLACK_SECONDS
    factor = settings.TELEMETRY_STREAM_SILENT_FACTOR
    out = []
    for vehicle_id, vin, firmware, client in cars:
        row = current.get(vehicle_id)
        facts = None
        version = None
        if row is not None:
            version = versions.get(row["version_id"])
            facts = DeploymentFacts(
                status=row["status"],
                fields=_fields_of(version["payload"]) if version else (),
                reason=row["reason"],
                error=row["error"],
                pushed_at=row["pushed_at"],
                synced_at=row["synced_at"],
                version_number=version["number"] if version else None,
            )
        unsupported: dict[str, str] = {}
        for names, body in errors.get(vehicle_id, []):
            for f in facts.fields if facts else ():
                if f.name in names:
                    unsupported.setdefault(f.name, body or UNSUPPORTED_FIELD)
        s = streams.get(vehicle_id)
        state = stream_state(
            deployment=facts,
            stream=StreamFacts(
                last_message_at=s.last_message_at,
                connectivity=s.connectivity,
                connectivity_at=s.connectivity_at,
                connected_at=s.connected_at,
            )
            if s
            else None,
            received=received.get(vehicle_id, {}),
            unsupported=unsupported,
            now=now,
            slack_seconds=slack,
            silent_factor=factor,
            firmware_version=firmware,
            telemetry_version=client,
            assigned=vehicle_id in assigned,
        )
        # The config the state is about: the assigned one, else the one last pushed.
        if vehicle_id in assigned:
            state.config_id, state.config_name = assigned[vehicle_id]
        elif version is not None and row["status"] not in (Status.REMOVED, Status.REMOVING):
            state.config_id, state.config_name = version["config_id"], version["config__name"]
        out.append(VehicleStreamState(vehicle_id, vin, state))
    return out


def vehicle_stream_state(*, vehicle: Vehicle, now: dt.datetime | None = None) -> StreamState:
    """One vehicle's streaming state (the staff vehicle page, the owner's live page)."""
    return stream_states(vehicle_ids=[vehicle.pk], now=now)[0].state


# --- The overview's figures -------------------------------------------------------------------


@dataclass
class Bar:
    """One state's share of a chart row: its count, and where its segment starts and how
    wide it is, in percent of the row (SVG attributes: no inline style under the CSP)."""

    state: State
    count: int
    x: float
    width: float

    @property
    def tone(self) -> str:
        return TONE[self.state]


def bars(counts: Mapping[str, int], total: int) -> list[Bar]:
    """Stacked segments of one chart row, in State order, empty states left out."""
    out, x = [], 0.0
    for state in State:
        n = counts.get(state, 0)
        if not n:
            continue
        width = 100.0 * n / total if total else 0.0
        out.append(Bar(state, n, round(x, 3), round(width, 3)))
        x += width
    return out


def count_states(rows: Iterable[VehicleStreamState]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state.state] = counts.get(row.state.state, 0) + 1
    return counts


def counts_by_config(rows: Iterable[VehicleStreamState]) -> list[dict]:
    """One entry per config (vehicles without one last): its name, id, counts and bars."""
    groups: dict[int | None, list[VehicleStreamState]] = {}
    names: dict[int | None, str] = {}
    for row in rows:
        groups.setdefault(row.state.config_id, []).append(row)
        names[row.state.config_id] = row.state.config_name
    out = []
    for config_id in sorted(groups, key=lambda c: (c is None, names[c].lower())):
        counts = count_states(groups[config_id])
        total = len(groups[config_id])
        out.append(
            {
                "config_id": config_id,
                "name": names[config_id],
                "total": total,
                "counts": counts,
                "bars": bars(counts, total),
            }
        )
    return out
