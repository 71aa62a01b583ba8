"""Which of the portal's usage categories a Fleet API request falls in, by method and path.

Tesla names a pricing category on each endpoint's reference page (§4.5); these categories are
the portal's own grouping of the endpoints it calls, each with a rate in settings
(USAGE_RATES). Paths are those after the region's base URL (`/api/1/...`).
"""

from __future__ import annotations

DATA = "data"
COMMANDS = "commands"
WAKES = "wakes"
TELEMETRY_CONFIG = "telemetry_config"
PARTNER = "partner"
SIGNALS = "signals"  # streamed, not a request: counted by the stream consumer

REQUEST_CATEGORIES = (DATA, COMMANDS, WAKES, TELEMETRY_CONFIG, PARTNER)


def category_for(method: str, path: str) -> str:
    """The category of one request (the query string is not part of `path`)."""
    if path.startswith("/api/1/partner_accounts"):
        return PARTNER
    if path.startswith("/api/1/vehicles/"):
        if "fleet_telemetry_" in path:
            return TELEMETRY_CONFIG
        if method == "POST" and path.endswith("/wake_up"):
            return WAKES
        if method == "POST" and "/command/" in path:
            return COMMANDS
    return DATA
