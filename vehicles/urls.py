from __future__ import annotations

from django.urls import path

from vehicles import views

app_name = "vehicles"

# Included at "vehicles/" by fleetportal/urls.py.
urlpatterns = [
    path("", views.vehicle_list, name="list"),
    path("<int:pk>/", views.vehicle_detail, name="detail"),
    path("<int:pk>/check/", views.vehicle_check, name="check"),
    path("pair/<str:token>/", views.vehicle_pairing_open, name="pairing_open"),
    path("vin/<str:vin>/", views.vehicle_by_vin, name="by_vin"),
    path("sync/", views.vehicle_sync, name="sync"),
    path("sync/status/", views.vehicle_sync_status, name="sync_status"),
    path("roster/", views.roster, name="roster"),
]
