"""Telemetry configs, their content-addressed versions, assignments, per-vehicle deployments,
push runs and the append-only audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TeslaLink
from vehicles.models import Vehicle


class TelemetryConfig(models.Model):
    """What staff edit. What a car receives is a TelemetryConfigVersion of it."""

    class DeliveryPolicy(models.TextChoices):
        # Tesla documents only `latest` (resend un-acked data); unset is the car's default.
        DEFAULT = "", _("Car default")
        LATEST = "latest", _("Latest (resend un-acknowledged data)")

    name = models.CharField(_("name"), max_length=100, unique=True)
    hostname = models.CharField(_("server host name"), max_length=253)
    port = models.PositiveIntegerField(_("port"), default=443)
    ca = models.TextField(_("CA certificate chain (PEM)"))
    exp = models.DateTimeField(_("expires"), null=True, blank=True)
    delivery_policy = models.CharField(
        _("delivery policy"), max_length=16, choices=DeliveryPolicy, blank=True
    )
    alert_types = models.JSONField(_("alert types"), default=list, blank=True)
    prefer_typed = models.BooleanField(_("prefer typed values"), default=True)
    vehicles = models.ManyToManyField(
        Vehicle, through="TelemetryAssignment", related_name="telemetry_configs", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("telemetry configuration")
        verbose_name_plural = _("telemetry configurations")
        ordering = ("name",)
        permissions = [
            ("manage_telemetry", _("Can build, assign, push and remove telemetry configurations"))
        ]

    def __str__(self) -> str:
        return self.name


class TelemetryField(models.Model):
    config = models.ForeignKey(TelemetryConfig, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(_("field"), max_length=64)
    interval_seconds = models.PositiveIntegerField(_("interval (s)"), default=60)
    minimum_delta = models.FloatField(_("minimum change"), null=True, blank=True)
    resend_interval_seconds = models.PositiveIntegerField(
        _("resend interval (s)"), null=True, blank=True
    )
    # Keep a downsampled history of this field (the owner's chart), not only its latest value.
    keep_history = models.BooleanField(_("keep history"), default=False)

    class Meta:
        verbose_name = _("telemetry field")
        verbose_name_plural = _("telemetry fields")
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=["config", "name"], name="telemetry_field_unique")
        ]

    def __str__(self) -> str:
        return self.name


class TelemetryConfigVersion(models.Model):
    """The exact config body a car gets (without iss/aud), identified by its content hash.

    Editing a config never changes a version a car already holds: a changed body is a new
    version, so reconcile can compare the car's config with the one we pushed.
    """

    config = models.ForeignKey(TelemetryConfig, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    payload = models.JSONField(_("config body"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("telemetry configuration version")
        verbose_name_plural = _("telemetry configuration versions")
        ordering = ("config", "-number")
        constraints = [
            models.UniqueConstraint(fields=["config", "number"], name="telemetry_version_number"),
            models.UniqueConstraint(
                fields=["config", "content_hash"], name="telemetry_version_hash"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.config.name} v{self.number}"


class TelemetryAssignment(models.Model):
    """A vehicle should carry this config. Tesla keeps one config per app on a car, so a
    vehicle has at most one assignment."""

    config = models.ForeignKey(
        TelemetryConfig, on_delete=models.CASCADE, related_name="assignments"
    )
    vehicle = models.OneToOneField(
        Vehicle, on_delete=models.CASCADE, related_name="telemetry_assignment"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("assigned"), auto_now_add=True)

    class Meta:
        verbose_name = _("telemetry assignment")
        verbose_name_plural = _("telemetry assignments")

    def __str__(self) -> str:
        return f"{self.config} → {self.vehicle}"


class TelemetryRun(models.Model):
    """One push (or removal) of a version to a set of vehicles: what the progress bar shows."""

    class Kind(models.TextChoices):
        PUSH = "push", _("Push")
        RESIGN = "resign", _("Re-sign")
        REMOVE = "remove", _("Removal")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        # A newer push of the same config took over: one push per config is active.
        SUPERSEDED = "superseded", _("Replaced by a newer push")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    config = models.ForeignKey(TelemetryConfig, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(
        TelemetryConfigVersion, on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind, default=Kind.PUSH)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("vehicles"), default=0)
    links_total = models.PositiveIntegerField(_("linked accounts"), default=0)
    links_done = models.PositiveIntegerField(_("linked accounts done"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("queued"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The last sign of life of the run's tasks (queued, started, a batch recorded, a retry
    # scheduled): the runs sweep re-queues a run silent for TELEMETRY_RUN_STALE_SECONDS.
    heartbeat_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    redispatches = models.PositiveSmallIntegerField(_("re-queued"), default=0)
    # The config as Tesla receives it (a Tesla.SS256 JWS, docs/tesla-api-notes.md §5.3), signed
    # once per run and sent by every link task: the key is read, decrypted and parsed once,
    # not per link. Not a secret: the JWS is the config (host, port, CA, fields) and a
    # signature. A run keeps the key it was signed with; a re-sign is a new run.
    signed_token = models.TextField(_("signed config"), blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("telemetry push")
        verbose_name_plural = _("telemetry pushes")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version} ({self.get_status_display()})"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE


class TelemetryDeployment(models.Model):
    """Where one version stands on one vehicle, from the push to the car's adoption."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")  # queued, Tesla not asked yet
        UPDATED = "updated", _("Accepted, waiting for the car")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")
        SYNCED = "synced", _("Synced")
        REJECTED = "rejected", _("Rejected by the car")
        DRIFT = "drift", _("Different config on the car")
        LIMIT_REACHED = "limit_reached", _("Car at its limit of streaming apps")
        SUPERSEDED = "superseded", _("Replaced by a newer version")
        REMOVING = "removing", _("Removing")
        REMOVED = "removed", _("Removed")

    # States reconcile keeps asking Tesla about.
    WAITING = (Status.UPDATED,)
    ON_CAR = (Status.UPDATED, Status.SYNCED, Status.DRIFT)

    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, related_name="telemetry_deployments"
    )
    version = models.ForeignKey(
        TelemetryConfigVersion, on_delete=models.CASCADE, related_name="deployments"
    )
    run = models.ForeignKey(
        TelemetryRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    # The owner's link the push went through: reconcile must ask with the same account.
    link = models.ForeignKey(
        TeslaLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status, default=Status.PENDING, db_index=True
    )
    # Tesla's skip reason: missing_key, unsupported_hardware, unsupported_firmware, max_configs.
    reason = models.CharField(_("reason"), max_length=32, blank=True)
    error = models.TextField(_("error"), blank=True)
    pushed_at = models.DateTimeField(_("pushed"), null=True, blank=True)
    synced_at = models.DateTimeField(_("synced"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("telemetry deployment")
        verbose_name_plural = _("telemetry deployments")
        # No default ordering: counting and grouping queries would all JOIN the vehicle to sort.
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "version"], name="telemetry_deployment")
        ]
        indexes = [models.Index(fields=["status", "checked_at"])]

    def __str__(self) -> str:
        return f"{self.version} on {self.vehicle_id}: {self.status}"


class AuditQuerySet(models.QuerySet):
    # Bulk paths skip Model.save/delete; refuse them too so the log stays append-only.
    def update(self, **kwargs):
        raise PermissionError("the telemetry audit log is append-only")

    def delete(self):
        raise PermissionError("the telemetry audit log is append-only")


class TelemetryAuditEntry(models.Model):
    """Who did what to which config version for which vehicles, and how it went."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        EDITED = "edited", _("Edited")
        ASSIGNED = "assigned", _("Assigned")
        UNASSIGNED = "unassigned", _("Unassigned")
        PUSHED = "pushed", _("Pushed")
        RESIGNED = "resigned", _("Re-signed")
        REMOVED = "removed", _("Removed")
        # A manager read a car's errors through its owner's link (the outcome names whose).
        ERRORS_READ = "errors_read", _("Errors read through an owner's link")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text as well: the log must still say who after the user is deleted.
    actor_email = models.CharField(_("who"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=Action)
    config = models.ForeignKey(
        TelemetryConfig, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    config_name = models.CharField(_("configuration"), max_length=100)
    version_number = models.PositiveIntegerField(_("version"), null=True, blank=True)
    vins = models.JSONField(_("vehicles"), default=list, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    # A run's end, structured so pages word it in the reader's language: {"statuses":
    # {status: n}, "reasons": {skip reason: n}, "ended": run status, "error": text}.
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("telemetry audit entry")
        verbose_name_plural = _("telemetry audit log")
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the telemetry audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the telemetry audit log is append-only")


# --- The stream: what the cars send through the operator's fleet-telemetry server -----------
# docs/tesla-api-notes.md §10 (topics and payloads on MQTT) and docs/streaming.md (how the
# consumer stores them and derives each vehicle's streaming state).


class StreamValue(models.Model):
    """The latest value of one field of one vehicle: one row per (vehicle, field), written
    once per consumer flush however many messages the burst held."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="stream_values")
    field = models.CharField(_("field"), max_length=64)
    # The parsed value (number, string, bool, object); None is the car's "invalid".
    value = models.JSONField(_("value"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"))

    class Meta:
        verbose_name = _("latest streamed value")
        verbose_name_plural = _("latest streamed values")
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "field"], name="stream_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.field}"


class StreamPoint(models.Model):
    """History of a field whose config says "keep history", one point per bucket
    (TELEMETRY_HISTORY_BUCKET_SECONDS): the last value received in it."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="stream_points")
    field = models.CharField(_("field"), max_length=64)
    at = models.DateTimeField(_("at"))
    value = models.JSONField(_("value"), null=True, blank=True)

    class Meta:
        verbose_name = _("streamed history point")
        verbose_name_plural = _("streamed history")
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "field", "at"], name="stream_point_unique")
        ]
        indexes = [models.Index(fields=["at"], name="stream_point_at")]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.field} {self.at:%Y-%m-%d %H:%M}"


class VehicleStream(models.Model):
    """What the stream has shown of one vehicle: the facts its streaming state is read from."""

    class Connectivity(models.TextChoices):
        CONNECTED = "CONNECTED", _("Connected")
        DISCONNECTED = "DISCONNECTED", _("Disconnected")
        UNKNOWN = "UNKNOWN", _("Unknown")

    vehicle = models.OneToOneField(Vehicle, on_delete=models.CASCADE, related_name="stream")
    first_message_at = models.DateTimeField(_("first data"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last data"), null=True, blank=True)
    connectivity = models.CharField(
        _("connection"), max_length=16, choices=Connectivity, blank=True
    )
    connectivity_at = models.DateTimeField(_("connection changed"), null=True, blank=True)
    # The last CONNECTED event: "connected, no data" when no field message came after it.
    connected_at = models.DateTimeField(_("last connected"), null=True, blank=True)
    # Set when staff were told this vehicle went silent; cleared when data arrives again, so
    # each incident is told once.
    silent_notified_at = models.DateTimeField(_("silence reported"), null=True, blank=True)

    class Meta:
        verbose_name = _("vehicle stream")
        verbose_name_plural = _("vehicle streams")

    def __str__(self) -> str:
        return f"{self.vehicle_id} stream"


class StreamSignalDay(models.Model):
    """Signals (field messages, each billed by Tesla) per vehicle per UTC day."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="stream_days")
    day = models.DateField(_("day"))
    signals = models.PositiveBigIntegerField(_("signals"), default=0)

    class Meta:
        verbose_name = _("streamed signals per day")
        verbose_name_plural = _("streamed signals per day")
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "day"], name="stream_signal_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.day}: {self.signals}"


class StreamFieldDay(models.Model):
    """Signals (field messages) per field per UTC day, over all vehicles: the busiest fields
    (usage). Global, not per vehicle, to keep the rows few; sums to StreamSignalDay's day."""

    day = models.DateField(_("day"))
    field = models.CharField(_("field"), max_length=64)
    signals = models.PositiveBigIntegerField(_("signals"), default=0)

    class Meta:
        verbose_name = _("streamed signals per field per day")
        verbose_name_plural = _("streamed signals per field per day")
        constraints = [
            models.UniqueConstraint(fields=["day", "field"], name="stream_field_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.field} {self.day}: {self.signals}"


class StreamDrop(models.Model):
    """Bad input the consumer set aside, counted per kind per UTC day, never stored as data."""

    class Kind(models.TextChoices):
        UNKNOWN_VIN = "unknown_vin", _("VIN the portal does not know")
        MALFORMED = "malformed", _("Malformed payload")
        OVERSIZED = "oversized", _("Payload over the size cap")
        UNKNOWN_FIELD = "unknown_field", _("Field not in Tesla's list")
        TYPE_CHANGED = "type_changed", _("Value type changed")
        BAD_TOPIC = "bad_topic", _("Topic not from fleet-telemetry")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    day = models.DateField(_("day"))
    count = models.PositiveBigIntegerField(_("count"), default=0)
    # The last topic of this kind (truncated): enough for staff to find the sender.
    last_topic = models.CharField(_("last topic"), max_length=200, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)

    class Meta:
        verbose_name = _("stream input set aside")
        verbose_name_plural = _("stream input set aside")
        constraints = [models.UniqueConstraint(fields=["kind", "day"], name="stream_drop_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind}: {self.count}"


class StreamEvent(models.Model):
    """An error or an alert a car reported through the stream (for example unsupported_field
    with the field in its tags)."""

    class Kind(models.TextChoices):
        ERROR = "error", _("Error")
        ALERT = "alert", _("Alert")

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="stream_events")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind)
    name = models.CharField(_("name"), max_length=100)
    body = models.TextField(_("message"), blank=True)
    tags = models.JSONField(_("tags"), default=dict, blank=True)
    audiences = models.JSONField(_("audiences"), default=list, blank=True)
    # The car's own times: CreatedAt for errors, StartedAt/EndedAt for alerts.
    occurred_at = models.DateTimeField(_("occurred"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), db_index=True)

    class Meta:
        verbose_name = _("stream error or alert")
        verbose_name_plural = _("stream errors and alerts")
        ordering = ("-received_at", "-pk")
        indexes = [models.Index(fields=["vehicle", "kind", "name"], name="stream_event_name")]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.kind} {self.name}"


class StreamConsumer(models.Model):
    """One consumer process's heartbeat, for /healthz and the staff overview."""

    client_id = models.CharField(_("client id"), max_length=128, unique=True)
    connected = models.BooleanField(_("connected"), default=False)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)
    messages = models.PositiveBigIntegerField(_("messages"), default=0)

    class Meta:
        verbose_name = _("stream consumer")
        verbose_name_plural = _("stream consumers")

    def __str__(self) -> str:
        return self.client_id
