from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fleetportal.permissions import MANAGE_PARTNER, has_staff_permission
from partners import services
from partners.advice import advice_for
from partners.models import PartnerAuditEntry, PartnerKey, PartnerRegistration


class PartnerAdminMixin:
    """Rows come from the key services and from Tesla's answers, never from typing: nothing is
    added, edited or deleted here. Partner managers (and whoever holds Django's view
    permission) may look; actions need the partner permission and go through the audited
    services."""

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return has_staff_permission(request.user, MANAGE_PARTNER) or super().has_view_permission(
            request, obj
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_manage_partner_permission(self, request: HttpRequest) -> bool:
        return has_staff_permission(request.user, MANAGE_PARTNER)


@admin.register(PartnerRegistration)
class PartnerRegistrationAdmin(PartnerAdminMixin, admin.ModelAdmin):
    list_display = ("region", "domain", "state", "problem", "checked_at", "registered_at")
    list_filter = ("state", "region", "problem")
    search_fields = ("domain", "tesla_message")
    fields = (
        "region",
        "domain",
        "state",
        "problem",
        "tesla_message",
        "advice",
        "tesla_public_key_hex",
        "registered_at",
        "checked_at",
    )
    readonly_fields = fields
    actions = ("register_again",)

    @admin.display(description=gettext_lazy("What to do"))
    def advice(self, obj: PartnerRegistration) -> str:
        return advice_for(obj)

    @admin.action(
        description=gettext_lazy("Register again with Tesla"), permissions=["manage_partner"]
    )
    def register_again(self, request: HttpRequest, queryset: QuerySet[PartnerRegistration]) -> None:
        registered = failed = 0
        for row in queryset:
            try:
                result = services.partner_register(region=row.region, actor=request.user)
            except services.PartnerSetupError as exc:
                failed += 1
                self.message_user(request, f"{row.region}: {exc}", messages.ERROR)
                continue
            if result.state == PartnerRegistration.State.REGISTERED:
                registered += 1
            else:
                failed += 1
        self.message_user(
            request,
            _("Registered: %(ok)s. Not registered: %(failed)s.")
            % {"ok": registered, "failed": failed},
            messages.SUCCESS if not failed else messages.WARNING,
        )


@admin.register(PartnerKey)
class PartnerKeyAdmin(PartnerAdminMixin, admin.ModelAdmin):
    # Keys are made by `tesla_keygen`, `tesla_import_key` or the staff page, all audited.
    list_display = ("fingerprint", "created_at", "rotated_at", "private_key_file")
    # The private key is never shown, not even encrypted: it is simply not among the fields.
    fields = (
        "fingerprint",
        "public_key_pem",
        "public_key_hex",
        "private_key_file",
        "created_at",
        "rotated_at",
    )
    readonly_fields = fields


@admin.register(PartnerAuditEntry)
class PartnerAuditEntryAdmin(PartnerAdminMixin, admin.ModelAdmin):
    """Append-only: shown, never edited or deleted, here or anywhere else."""

    list_display = (
        "created_at",
        "actor_label",
        "action",
        "region",
        "outcome",
        "fingerprint",
        "detail",
    )
    list_filter = ("action", "outcome", "region")
    search_fields = ("actor_label", "fingerprint", "detail")
    readonly_fields = [f.name for f in PartnerAuditEntry._meta.fields]
    list_select_related = ("actor",)

    def get_actions(self, request: HttpRequest) -> dict:
        return {}
