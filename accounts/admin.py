from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import tasks
from accounts.models import RefreshAttempt, TeslaLink, User
from accounts.reasons import reason_text


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


class ExpiringFilter(admin.SimpleListFilter):
    title = _("access token")
    parameter_name = "expiring"

    def lookups(self, request: object, model_admin: object) -> list[tuple[str, str]]:
        return [("due", _("due for refresh")), ("expired", _("expired"))]

    def queryset(self, request: object, queryset: object) -> object:
        now = timezone.now()
        if self.value() == "due":
            margin = dt.timedelta(seconds=settings.TESLA_REFRESH_MARGIN_SECONDS)
            return queryset.filter(access_token_expires_at__lte=now + margin)
        if self.value() == "expired":
            return queryset.filter(access_token_expires_at__lte=now)
        return queryset


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
    list_filter = ("health", ExpiringFilter, "region", "auth_server")
    actions = ("refresh_now",)
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
        "reason_in_words",
        "health_changed_at",
        "created_at",
        "updated_at",
    )
    # Health is the refresh machinery's finding (accounts/services.py), not an operator's
    # choice: shown, never edited. "Refresh tokens now" is the action that re-checks it.
    readonly_fields = fields

    @admin.display(description=_("reason in words"))
    def reason_in_words(self, obj: TeslaLink) -> str:
        return reason_text(obj.health_reason) if obj.health_reason else "—"

    def has_add_permission(self, request: object) -> bool:
        # Links are made by their owners through Tesla's consent, never typed in.
        return False

    @admin.action(description=_("Refresh tokens now (healthy or retrying links)"))
    def refresh_now(self, request: object, queryset: object) -> None:
        ids = list(queryset.exclude(health__in=TeslaLink.BROKEN).values_list("pk", flat=True))
        for link_id in ids:
            tasks.link_refresh.delay_on_commit(link_id, force=True)
        queued = ngettext("%(n)d refresh queued.", "%(n)d refreshes queued.", len(ids))
        self.message_user(request, queued % {"n": len(ids)}, messages.SUCCESS)


@admin.register(RefreshAttempt)
class RefreshAttemptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "link", "outcome", "error", "duration_ms")
    list_filter = ("outcome", "link__region")
    list_select_related = ("link",)
    date_hierarchy = "created_at"
    readonly_fields = ("link", "outcome", "error", "duration_ms", "created_at")

    def has_add_permission(self, request: object) -> bool:
        return False
