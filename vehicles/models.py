"""Vehicles: one row per car (by VIN), one access row per (linked Tesla account, car)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TeslaLink
from vehicles import vin as vinlib


class Vehicle(models.Model):
    """One car, unique by VIN: the decoded VIN and what fleet_status last said about it.

    A car seen by two Tesla accounts (its owner and a driver) is one row with two access rows,
    so key pairing and firmware are stored once. Rows are never deleted by a sync or an
    unlink: a fleet roster or telemetry history may still reference the car.
    """

    class Model(models.TextChoices):
        S = "S", "Model S"
        M3 = "3", "Model 3"
        X = "X", "Model X"
        Y = "Y", "Model Y"
        C = "C", "Cybertruck"
        T = "T", "Semi"
        R = "R", "Roadster"

    vin = models.CharField(_("VIN"), max_length=17, unique=True)
    # Decoded from the VIN at first sight (see vehicles/vin.py).
    vin_valid = models.BooleanField(_("VIN valid"), default=True)
    vin_problems = models.JSONField(_("VIN problems"), default=list, blank=True)
    manufacturer = models.CharField(_("manufacturer"), max_length=100, blank=True)
    model = models.CharField(_("model"), max_length=1, choices=Model, blank=True)
    model_year = models.PositiveSmallIntegerField(_("model year"), null=True, blank=True)
    body_code = models.CharField(_("body"), max_length=1, blank=True)
    plant_code = models.CharField(_("plant"), max_length=1, blank=True)
    # The Fleet API region whose account last listed it (NA, EU, CN): where to pair and push.
    region = models.CharField(_("region"), max_length=4, blank=True, db_index=True)

    # fleet_status (§3.5). None means "not known yet" (never asked, or the car was away).
    key_paired = models.BooleanField(_("key paired"), null=True, blank=True)
    command_protocol_required = models.BooleanField(
        _("command protocol required"), null=True, blank=True
    )
    firmware_version = models.CharField(_("firmware"), max_length=40, blank=True)
    telemetry_version = models.CharField(_("telemetry client version"), max_length=40, blank=True)
    total_keys = models.PositiveSmallIntegerField(_("keys on the car"), null=True, blank=True)
    discounted_device_data = models.BooleanField(_("discounted device data"), null=True, blank=True)
    safety_screen_streaming = models.BooleanField(
        _("third-party data streaming toggle"), null=True, blank=True
    )
    status_checked_at = models.DateTimeField(_("status checked"), null=True, blank=True)
    status_error = models.CharField(_("status problem"), max_length=200, blank=True)

    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ("vin",)
        indexes = [models.Index(fields=["model", "region"])]

    def __str__(self) -> str:
        return self.vin

    @property
    def decoded(self) -> vinlib.DecodedVin:
        return vinlib.vin_decode(self.vin)

    @property
    def plant(self) -> str:
        return str(vinlib.TESLA_PLANTS.get(self.plant_code, self.plant_code))

    @property
    def body(self) -> str:
        return str(vinlib.TESLA_BODIES.get(self.body_code, self.body_code))


class VehicleAccess(models.Model):
    """A linked Tesla account's view of a car: Tesla's id for it, its name and access type.

    Deleted with its link (unlinking detaches the account's cars); the Vehicle stays.
    """

    class AccessType(models.TextChoices):
        OWNER = "OWNER", _("Owner")
        DRIVER = "DRIVER", _("Driver")
        OTHER = "OTHER", _("Other")

    link = models.ForeignKey(TeslaLink, on_delete=models.CASCADE, related_name="vehicle_accesses")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="accesses")
    # Tesla's id as a string: it may exceed 2^53, hence id_s (§4.2).
    tesla_id = models.CharField(_("Tesla id"), max_length=32, blank=True)
    display_name = models.CharField(_("name"), max_length=200, blank=True)
    access_type = models.CharField(
        _("access type"), max_length=8, choices=AccessType, default=AccessType.OWNER
    )

    class State(models.TextChoices):
        # Tesla's words for a car in the vehicle list (§4.2); any other is shown as sent.
        ONLINE = "online", _("Online")
        ASLEEP = "asleep", _("Asleep")
        OFFLINE = "offline", _("Offline")

    state = models.CharField(_("state"), max_length=16, blank=True, choices=State)
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"))
    # Set when a complete sync no longer lists the car; cleared if it comes back.
    gone_at = models.DateTimeField(_("gone since"), null=True, blank=True)

    class Meta:
        verbose_name = _("vehicle access")
        verbose_name_plural = _("vehicle accesses")
        constraints = [
            models.UniqueConstraint(fields=["link", "vehicle"], name="vehicles_access_unique")
        ]
        indexes = [models.Index(fields=["link", "gone_at", "last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.vehicle_id} via {self.link_id} ({self.access_type})"

    @property
    def is_driver(self) -> bool:
        return self.access_type != self.AccessType.OWNER

    @property
    def is_gone(self) -> bool:
        return self.gone_at is not None


class SyncRun(models.Model):
    """One sync of one link: what the "Sync now" progress and the admin show."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        RETRYING = "retrying", _("Waiting to retry")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.RETRYING)

    link = models.ForeignKey(TeslaLink, on_delete=models.CASCADE, related_name="vehicle_syncs")
    status = models.CharField(_("status"), max_length=8, choices=Status, default=Status.QUEUED)
    trigger = models.CharField(_("trigger"), max_length=16, blank=True)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    seen = models.PositiveIntegerField(_("vehicles seen"), default=0)
    gone = models.PositiveIntegerField(_("vehicles gone"), default=0)
    statuses = models.PositiveIntegerField(_("statuses checked"), default=0)
    # Entries of Tesla's answers the sync could not use (not an object, no usable VIN); the
    # reason is the first one met, an English msgid translated when shown.
    skipped = models.PositiveIntegerField(_("entries skipped"), default=0)
    skipped_reason = models.CharField(_("why entries were skipped"), max_length=100, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("queued"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The last sign of life of the sync's task (queued, claimed, a retry scheduled): the runs
    # sweep re-queues a sync silent for VEHICLES_SYNC_STALE_SECONDS.
    heartbeat_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    redispatches = models.PositiveSmallIntegerField(_("re-queued"), default=0)

    class Meta:
        verbose_name = _("vehicle sync")
        verbose_name_plural = _("vehicle syncs")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.get_status_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE


class RosterEntry(models.Model):
    """A VIN staff expect in the fleet; attached to the Vehicle once some link lists it."""

    vin = models.CharField(_("VIN"), max_length=17, unique=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    vehicle = models.ForeignKey(
        Vehicle,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="roster_entries",
        verbose_name=_("vehicle"),
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("roster entry")
        verbose_name_plural = _("fleet roster")
        ordering = ("vin",)
        permissions = [("manage_roster", _("Can view the fleet roster and add VINs to it"))]

    def __str__(self) -> str:
        return self.vin
