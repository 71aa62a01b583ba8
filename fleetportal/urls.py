from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from fleetportal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    # accounts.urls has the language switcher (set_language) too.
    path("", include("accounts.urls")),
    path("", include("partners.urls")),
    path("vehicles/", include("vehicles.urls")),
    path("telemetry/", include("telemetry.urls")),
    path("staff/usage/", include("usage.urls")),
    path("admin/", admin.site.urls),
]
