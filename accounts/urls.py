from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("links/<int:pk>/unlink/", views.link_unlink, name="link_unlink"),
    path("links/<int:pk>/relink/", views.link_relink, name="link_relink"),
    path("links/paste/", views.link_paste, name="link_paste"),
    path("accounts/resend-confirmation/", views.resend_confirmation, name="resend_confirmation"),
    path("staff/links/", views.link_status, name="link_status"),
]
