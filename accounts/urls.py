from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("links/<int:pk>/unlink/", views.link_unlink, name="link_unlink"),
    path("links/<int:pk>/relink/", views.link_relink, name="link_relink"),
    path("links/paste/", views.link_paste, name="link_paste"),
    path("accounts/resend-confirmation/", views.resend_confirmation, name="resend_confirmation"),
    # Replaces django.conf.urls.i18n's view of the same name (fleetportal/urls.py).
    path("i18n/setlang/", views.language_set, name="set_language"),
    path("staff/links/", views.link_status, name="link_status"),
]
