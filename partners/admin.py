from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from partners import services
from partners.models import PartnerKey, PartnerRegistration


@admin.register(PartnerRegistration)
class PartnerRegistrationAdmin(admin.ModelAdmin):
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
        return obj.advice

    @admin.action(description=gettext_lazy("Register again with Tesla"))
    def register_again(self, request: HttpRequest, queryset: QuerySet[PartnerRegistration]) -> None:
        registered = failed = 0
        for row in queryset:
            try:
                result = services.partner_register(region=row.region)
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Rows are what Tesla answered; they come from registering, never from typing.
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PartnerKey)
class PartnerKeyAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Keys are made by `tesla_keygen`, `tesla_import_key` or the staff page.
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
