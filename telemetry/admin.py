from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fleetportal.queueing import QueueUnavailable, queue_unavailable_message
from telemetry import selectors, services
from telemetry.forms import BaseFieldFormSet, TelemetryConfigForm, TelemetryFieldForm
from telemetry.models import (
    StreamConsumer,
    StreamDrop,
    StreamEvent,
    StreamFieldDay,
    StreamPoint,
    StreamSignalDay,
    StreamValue,
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryConfigVersion,
    TelemetryDeployment,
    TelemetryField,
    TelemetryRun,
    VehicleStream,
)


class ManagePermissionMixin:
    """Writes need the telemetry permission (superusers have every permission)."""

    def has_add_permission(self, request, *args) -> bool:
        return selectors.can_manage(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return selectors.can_manage(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return selectors.can_manage(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return selectors.can_manage(request.user)


class TelemetryFieldInline(ManagePermissionMixin, admin.TabularInline):
    model = TelemetryField
    form = TelemetryFieldForm
    formset = BaseFieldFormSet
    extra = 1


class ReadOnlyMixin:
    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return selectors.can_manage(request.user)


class VersionInline(ReadOnlyMixin, admin.TabularInline):
    model = TelemetryConfigVersion
    extra = 0
    fields = readonly_fields = ("number", "content_hash", "created_by", "created_at")


@admin.register(TelemetryConfig)
class TelemetryConfigAdmin(ManagePermissionMixin, admin.ModelAdmin):
    form = TelemetryConfigForm
    list_display = ("name", "hostname", "port", "exp", "updated_at")
    search_fields = ("name", "hostname")
    inlines = [TelemetryFieldInline, VersionInline]
    actions = ["push_to_assigned"]

    def save_model(self, request, obj, form, change) -> None:
        """Saved with its fields in save_related, by the builder's own save service."""

    def save_related(self, request, form, formsets, change) -> None:
        # The config, its fields, version and audit entry: the same save as the builder's.
        services.telemetry_config_save(form=form, formsets=formsets, user=request.user)

    @admin.action(description=_("Push to every assigned vehicle"))
    def push_to_assigned(self, request, queryset) -> None:
        try:
            runs = [services.telemetry_push_start(config=c, user=request.user) for c in queryset]
        except QueueUnavailable:
            self.message_user(request, queue_unavailable_message(), messages.ERROR)
            return
        except services.ConfigExpired as exc:
            # Pushes queued before the expired one stay queued; the message names the config.
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            gettext("Pushes queued: %(n)d, vehicles: %(v)d.")
            % {"n": len(runs), "v": sum(r.total for r in runs)},
            messages.SUCCESS,
        )


@admin.register(TelemetryDeployment)
class TelemetryDeploymentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "vehicle",
        "version",
        "status",
        "reason",
        "pushed_at",
        "synced_at",
        "checked_at",
    )
    list_filter = ("status", "reason")
    list_select_related = ("vehicle", "version__config")
    search_fields = ("vehicle__vin", "version__config__name")
    ordering = ("-updated_at",)


@admin.register(TelemetryRun)
class TelemetryRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("config", "version", "kind", "status", "total", "created_by", "created_at")
    list_filter = ("kind", "status")
    list_select_related = ("config", "version", "created_by")


@admin.register(TelemetryAuditEntry)
class TelemetryAuditEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Append-only: shown, never edited or deleted, here or anywhere else."""

    list_display = (
        "created_at",
        "actor_email",
        "action",
        "config_name",
        "version_number",
        "readable_outcome",
    )
    list_filter = ("action",)
    search_fields = ("actor_email", "config_name", "vins")
    readonly_fields = [f.name for f in TelemetryAuditEntry._meta.fields]

    def get_actions(self, request):
        return {}

    @admin.display(description=_("outcome"))
    def readable_outcome(self, entry: TelemetryAuditEntry) -> str:
        return selectors.audit_outcome(entry)


# The stream's rows are written by the consumer only: admin shows them, never edits them.


class StreamRowsAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A stream table of one car's rows: read-only, found by VIN."""

    list_select_related = ("vehicle",)
    search_fields: tuple[str, ...] = ("vehicle__vin",)


@admin.register(StreamValue)
class StreamValueAdmin(StreamRowsAdmin):
    list_display = ("vehicle", "field", "value", "received_at")
    search_fields = (*StreamRowsAdmin.search_fields, "field")
    ordering = ("-received_at",)


@admin.register(StreamPoint)
class StreamPointAdmin(StreamRowsAdmin):
    list_display = ("vehicle", "field", "at", "value")
    search_fields = (*StreamRowsAdmin.search_fields, "field")
    ordering = ("-at",)


@admin.register(VehicleStream)
class VehicleStreamAdmin(StreamRowsAdmin):
    list_display = (
        "vehicle",
        "last_message_at",
        "connectivity",
        "connected_at",
        "silent_notified_at",
    )
    list_filter = ("connectivity", ("silent_notified_at", admin.EmptyFieldListFilter))
    ordering = ("-last_message_at",)


@admin.register(StreamSignalDay)
class StreamSignalDayAdmin(StreamRowsAdmin):
    list_display = ("vehicle", "day", "signals")
    date_hierarchy = "day"
    ordering = ("-day",)


@admin.register(StreamFieldDay)
class StreamFieldDayAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("day", "field", "signals")
    date_hierarchy = "day"
    ordering = ("-day", "-signals")


@admin.register(StreamDrop)
class StreamDropAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("day", "kind", "count", "last_seen_at", "last_topic")
    list_filter = ("kind",)
    ordering = ("-day", "kind")


@admin.register(StreamEvent)
class StreamEventAdmin(StreamRowsAdmin):
    list_display = ("received_at", "vehicle", "kind", "name", "occurred_at", "ended_at")
    list_filter = ("kind", "name")
    search_fields = (*StreamRowsAdmin.search_fields, "name", "body")


@admin.register(StreamConsumer)
class StreamConsumerAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("client_id", "connected", "heartbeat_at", "last_message_at", "messages")
