from __future__ import annotations

from django.urls import path

from telemetry import views

app_name = "telemetry"

# Included at "telemetry/" by fleetportal/urls.py.
urlpatterns = [
    path("", views.config_list, name="list"),
    path("new/", views.config_create, name="create"),
    path("<int:pk>/", views.config_detail, name="detail"),
    path("<int:pk>/edit/", views.config_edit, name="edit"),
    path("<int:pk>/assign/", views.config_assign, name="assign"),
    path("<int:pk>/push/", views.config_push, name="push"),
    path("<int:pk>/remove/", views.config_remove, name="remove"),
    path("runs/<int:run_id>/status/", views.run_status, name="run_status"),
    path("errors/", views.error_inbox, name="errors"),
    path("overview/", views.stream_overview, name="overview"),
    path("fleet/", views.fleet_list, name="fleet"),
    path("fleet/assign/", views.fleet_assign, name="fleet_assign"),
    path("vehicles/<int:pk>/", views.vehicle_telemetry, name="vehicle"),
    path("vehicles/<int:pk>/resync/", views.vehicle_resync, name="vehicle_resync"),
    path("vehicles/<int:pk>/live/", views.vehicle_live, name="vehicle_live"),
    path("vehicles/<int:pk>/live/data/", views.vehicle_live_data, name="vehicle_live_data"),
]
