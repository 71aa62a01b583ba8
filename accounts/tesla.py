"""Django-side glue to the framework-free Tesla library: settings → region table, clients."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.conf import settings

from teslafleet import regions
from teslafleet.http import make_session

# allauth provider id → authorization server key of the region table.
PROVIDER_AUTH_SERVER = {"tesla": "global", "tesla_cn": "cn"}
AUTH_SERVER_PROVIDER = {server: provider for provider, server in PROVIDER_AUTH_SERVER.items()}


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    redirect_uri: str  # "" means: this portal's own callback URL

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


def region_table() -> regions.RegionTable:
    """The table for TESLA_ENV, read at call time so tests can point it at a sandbox."""
    return regions.get_table(settings.TESLA_ENV, settings.TESLA_SANDBOX_URL)


def auth_server(auth_server_key: str) -> regions.AuthServer:
    return region_table().auth_server(auth_server_key)


def credentials(auth_server_key: str) -> ClientCredentials:
    """The application's credentials at one authorization server (global or China)."""
    if auth_server_key == "cn":
        return ClientCredentials(
            settings.TESLA_CN_CLIENT_ID,
            settings.TESLA_CN_CLIENT_SECRET,
            settings.TESLA_CN_REDIRECT_URI,
        )
    return ClientCredentials(
        settings.TESLA_CLIENT_ID, settings.TESLA_CLIENT_SECRET, settings.TESLA_REDIRECT_URI
    )


def credential_settings(auth_server_key: str) -> tuple[str, str]:
    """The names of the settings an operator must set for that server (for error pages)."""
    if auth_server_key == "cn":
        return ("TESLA_CN_CLIENT_ID", "TESLA_CN_CLIENT_SECRET")
    return ("TESLA_CLIENT_ID", "TESLA_CLIENT_SECRET")


def default_audience(auth_server_key: str) -> str:
    """The Fleet API audience asked for at code exchange: the server's first region.

    The global server's tokens carry every global region in `aud` (§2.7); the user's own
    region comes from /users/region right after, and a 421 re-routes if needed.
    """
    table = region_table()
    return table.region(table.auth_server(auth_server_key).region_codes[0]).base_url


def http_session() -> requests.Session:
    """Every outbound Tesla call goes through this one factory (timeouts, User-Agent)."""
    return make_session(timeout=settings.TESLA_HTTP_TIMEOUT)
