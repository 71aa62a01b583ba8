"""Partner fixtures: a fresh, unregistered Tesla app per server, and a reachable portal."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

ORIGINS = ["localhost", "127.0.0.1"]


@pytest.fixture
def fresh_apps(settings, tesla_sandbox):
    """New sandbox clients for both servers, never registered as partners anywhere."""
    settings.TESLA_ENV = "sandbox"
    settings.TESLA_SANDBOX_URL = tesla_sandbox.url
    apps = {
        server: tesla_sandbox.control.register_client(
            server=server,
            redirect_uris=[f"http://localhost/accounts/{server}/callback/"],
            allowed_origins=ORIGINS,
            name=f"partner tests ({server})",
        )
        for server in ("global", "cn")
    }
    settings.TESLA_CLIENT_ID = apps["global"]["client_id"]
    settings.TESLA_CLIENT_SECRET = apps["global"]["client_secret"]
    settings.TESLA_CN_CLIENT_ID = apps["cn"]["client_id"]
    settings.TESLA_CN_CLIENT_SECRET = apps["cn"]["client_secret"]
    settings.TESLA_ALLOWED_ORIGINS = ORIGINS
    settings.TESLA_PRIVATE_KEY_FILE = ""
    tesla_sandbox.control.clear_requests()
    return apps


@pytest.fixture
def portal(live_server, settings, fresh_apps):
    """The portal served over real HTTP, so the sandbox can fetch the public key from it."""
    settings.PORTAL_PUBLIC_URL = live_server.url
    settings.TESLA_PARTNER_DOMAIN = urlsplit(live_server.url).netloc
    return live_server


@pytest.fixture
def staff_client(client, partner_manager):
    """Signed in as staff holding the partner permission."""
    client.force_login(partner_manager)
    return client


def sandbox_calls(tesla_sandbox, path: str | None = None) -> list[dict]:
    return tesla_sandbox.control.requests(path=path)
