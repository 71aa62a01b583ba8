"""Staff gates: one decorator for every staff page, answering the same way everywhere.

Anonymous visitors are sent to the portal's sign-in page (with `next`); signed-in users
without the page's permission get 403, rendered in the portal's layout (`403.html`).
Superusers hold every permission. Staff status alone opens nothing: each area has its
permission below, documented in README ("Staff permissions") and docs/operator-guide.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

# Application key, registration with Tesla, pairing links (partners/).
MANAGE_PARTNER = "partners.manage_partner"
# The token status page: link health and refresh figures (accounts/).
VIEW_LINK_STATUS = "accounts.view_link_status"
# The fleet roster: expected VINs (vehicles/).
MANAGE_ROSTER = "vehicles.manage_roster"
# Telemetry configurations: build, assign, push, remove (telemetry/).
MANAGE_TELEMETRY = "telemetry.manage_telemetry"

# Usage and cost: the usage page, budget emails, resuming calls after EXCEEDED_LIMIT (usage/).
VIEW_USAGE = "usage.view_usage"

STAFF_PERMISSIONS = (
    MANAGE_PARTNER,
    VIEW_LINK_STATUS,
    MANAGE_ROSTER,
    MANAGE_TELEMETRY,
    VIEW_USAGE,
)


def has_staff_permission(user: Any, perm: str) -> bool:
    """Active superusers, and active staff holding `perm` (directly or through a group)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or (user.is_staff and user.has_perm(perm))


def staff_holding(perm: str):
    """The users ``has_staff_permission(user, perm)`` lets in, as a queryset (for telling
    them something): active superusers, and active staff holding ``perm`` directly or
    through a group."""
    # Imported here: this module is imported while apps load (by views' decorators).
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    app_label, codename = perm.split(".")
    permission = Permission.objects.filter(
        content_type__app_label=app_label, codename=codename
    ).first()
    allowed = Q(is_superuser=True)
    if permission is not None:
        allowed |= Q(is_staff=True) & (
            Q(user_permissions=permission) | Q(groups__permissions=permission)
        )
    return get_user_model().objects.filter(allowed, is_active=True).distinct()


def staff_permission_required(
    perm: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous: redirect to sign in, with `next`. Signed in without `perm`: 403.

    The check runs before the view does anything: no query, no call to Tesla.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_staff_permission(request.user, perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.staff_permission = perm  # type: ignore[attr-defined]  # read by the security sweep
        return wrapper

    return decorator
