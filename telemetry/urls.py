from __future__ import annotations

app_name = "telemetry"
urlpatterns: list = []
