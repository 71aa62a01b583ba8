"""The admin site: staff sign in through the portal's own login, under one rate limit.

Django's admin login form would be a second door with no limit on wrong passwords; allauth's
login counts failures per account and per address (ACCOUNT_RATE_LIMITS, `login_failed`). So
the admin's login page only sends people to allauth's, with `next` pointing back.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache


class PortalAdminSite(admin.AdminSite):
    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        index = reverse("admin:index", current_app=self.name)
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = index
        if request.user.is_authenticated:
            if self.has_permission(request):
                return redirect(next_url)
            # Signed in but not staff: the login page would only send them back here.
            messages.error(request, _("This account has no access to the admin."))
            return redirect("dashboard")
        # A POST here (a form aimed at the old admin login) authenticates nobody either.
        return redirect_to_login(next_url, login_url=reverse("account_login"))
