from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from vehicles import services
from vehicles.forms import RosterEntryAdminForm
from vehicles.models import RosterEntry, SyncRun, Vehicle, VehicleAccess

# Everything Tesla (or the VIN) says about a car: shown, never edited by hand, since the next
# sync would silently overwrite it anyway.
VEHICLE_FIELDS = [f.name for f in Vehicle._meta.fields if f.name != "id"]
ACCESS_FIELDS = [
    "link",
    "vehicle",
    "tesla_id",
    "display_name",
    "access_type",
    "state",
    "first_seen_at",
    "last_seen_at",
    "gone_at",
]


class VehicleAccessInline(admin.TabularInline):
    model = VehicleAccess
    extra = 0
    can_delete = False
    fields = readonly_fields = ACCESS_FIELDS
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = (
        "vin",
        "model",
        "model_year",
        "plant_code",
        "region",
        "key_paired",
        "firmware_version",
        "status_checked_at",
    )
    list_filter = ("region", "key_paired", "model", "accesses__access_type", "vin_valid")
    # Owner email through the access rows; distinct rows are handled by the admin.
    search_fields = ("vin", "accesses__link__user__email", "accesses__display_name")
    readonly_fields = VEHICLE_FIELDS
    inlines = [VehicleAccessInline]

    def has_add_permission(self, request) -> bool:
        return False  # cars come from Tesla; expected VINs go in the roster


@admin.register(VehicleAccess)
class VehicleAccessAdmin(admin.ModelAdmin):
    list_display = ("vehicle", "user_email", "display_name", "access_type", "state", "gone_at")
    list_filter = ("access_type", "link__region", "vehicle__key_paired", "vehicle__model")
    search_fields = ("vehicle__vin", "link__user__email", "display_name")
    list_select_related = ("vehicle", "link__user")
    readonly_fields = ACCESS_FIELDS

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("owner email"), ordering="link__user__email")
    def user_email(self, obj: VehicleAccess) -> str:
        return obj.link.user.email


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("link", "status", "trigger", "pages", "seen", "gone", "statuses", "created_at")
    list_filter = ("status", "trigger")
    list_select_related = ("link",)
    readonly_fields = [f.name for f in SyncRun._meta.fields if f.name != "id"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(RosterEntry)
class RosterEntryAdmin(admin.ModelAdmin):
    form = RosterEntryAdminForm
    list_display = ("vin", "vehicle", "note", "created_at")
    list_filter = (("vehicle", admin.EmptyFieldListFilter),)
    search_fields = ("vin", "note")
    list_select_related = ("vehicle",)
    readonly_fields = ("vehicle", "added_by", "created_at")
    actions = ["attach_now"]

    def save_model(self, request, obj: RosterEntry, form, change: bool) -> None:
        if not change:
            obj.added_by = request.user
            obj.vehicle = Vehicle.objects.filter(vin=obj.vin).first()
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Attach to vehicles already synced"))
    def attach_now(self, request, queryset) -> None:
        attached = services.roster_attach(vins=list(queryset.values_list("vin", flat=True)))
        self.message_user(
            request,
            gettext("Roster entries attached: %(n)d.") % {"n": attached},
            messages.SUCCESS,
        )
