from __future__ import annotations

import pytest

from usage.categories import category_for


@pytest.mark.parametrize(
    ("method", "path", "category"),
    [
        ("GET", "/api/1/vehicles", "data"),
        ("GET", "/api/1/vehicles/5YJ3E1EA7PF000001/vehicle_data", "data"),
        ("POST", "/api/1/vehicles/fleet_status", "data"),
        ("GET", "/api/1/users/region", "data"),
        ("POST", "/api/1/vehicles/5YJ3E1EA7PF000001/wake_up", "wakes"),
        ("POST", "/api/1/vehicles/5YJ3E1EA7PF000001/command/honk_horn", "commands"),
        ("POST", "/api/1/vehicles/fleet_telemetry_config_jws", "telemetry_config"),
        ("DELETE", "/api/1/vehicles/<tag>/fleet_telemetry_config", "telemetry_config"),
        ("GET", "/api/1/vehicles/<tag>/fleet_telemetry_errors", "telemetry_config"),
        ("POST", "/api/1/partner_accounts", "partner"),
        ("GET", "/api/1/partner_accounts/public_key", "partner"),
    ],
)
def test_category_by_method_and_path(method, path, category):
    assert category_for(method, path) == category
