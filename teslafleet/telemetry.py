"""Fleet Telemetry protocol facts shared by the portal and the sandbox (§6)."""

from __future__ import annotations

# Fields that need the `vehicle_location` scope on the pushing account; Tesla refuses the
# whole config with 403 when one is included without it.
LOCATION_FIELDS = frozenset(
    {
        "Location",
        "OriginLocation",
        "DestinationLocation",
        "DestinationName",
        "RouteLine",
        "GpsState",
        "GpsHeading",
    }
)
