from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import TeslaLink, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(TeslaLink)
class TeslaLinkAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "user",
        "auth_server",
        "region",
        "health",
        "access_token_expires_at",
        "last_refreshed_at",
    )
    list_filter = ("health", "region", "auth_server")
    list_select_related = ("user",)
    search_fields = ("email", "full_name", "subject", "user__email")
    # Tokens are never shown, not even encrypted: they are simply not among the fields.
    fields = (
        "user",
        "auth_server",
        "subject",
        "region",
        "fleet_api_base_url",
        "email",
        "full_name",
        "scopes",
        "access_token_expires_at",
        "refresh_token_issued_at",
        "last_refreshed_at",
        "token_version",
        "health",
        "health_reason",
        "health_changed_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(f for f in fields if f not in ("health", "health_reason"))

    def has_add_permission(self, request: object) -> bool:
        # Links are made by their owners through Tesla's consent, never typed in.
        return False
