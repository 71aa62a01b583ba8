"""`make run PORT=P` moves the development set together (#16 item 18): scripts/dev_env.py
writes the ports and the URLs naming them into `.env`, the sandbox's demo clients accept
redirect URIs on P, and dev_bootstrap registers the portal at 127.0.0.1:P with its own key."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.core.management import call_command

from partners import selectors, services
from partners.models import PartnerRegistration
from sandbox.seed import demo_client_id, demo_redirect_uris
from sandbox.state import World
from sandbox.testing import consent, running_sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev_env(tmp_path, monkeypatch):
    """scripts/dev_env.py writing a throwaway `.env` and sandbox state."""
    spec = importlib.util.spec_from_file_location("dev_env", ROOT / "scripts/dev_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "DOT_ENV", tmp_path / ".env")
    monkeypatch.setattr(module, "SANDBOX_STATE", tmp_path / "sandbox")
    return module


def _seeded_redirects(state_dir: Path) -> dict[str, list[str]]:
    with World(state_dir).read() as data:
        return {c["server"]: c["redirect_uris"] for c in data["clients"].values() if c["seeded"]}


def test_port_9100_moves_the_urls_the_sandbox_and_the_broker(dev_env, tmp_path):
    assert dev_env.main(["--port", "9100"]) == 0
    values = dev_env.read(tmp_path / ".env")
    assert {k: values[k] for k in ("DEV_PORT", "DEV_SANDBOX_PORT", "DEV_MQTT_PORT")} == {
        "DEV_PORT": "9100",
        "DEV_SANDBOX_PORT": "9101",
        "DEV_MQTT_PORT": "9102",
    }
    assert values["PORTAL_PUBLIC_URL"] == "http://127.0.0.1:9100"
    assert values["TESLA_SANDBOX_URL"] == "http://127.0.0.1:9101"
    assert values["TELEMETRY_MQTT_URL"] == "mqtt://127.0.0.1:9102?version=3.1.1"
    assert values["TESLA_CLIENT_ID"] == demo_client_id("global")
    expected = demo_redirect_uris(9100)
    assert "http://127.0.0.1:9100/accounts/tesla_cn/login/callback/" in expected
    assert _seeded_redirects(tmp_path / "sandbox") == {"global": expected, "cn": expected}

    # Back to the defaults; secrets stay, and a URL the developer pointed elsewhere is kept.
    secret = values["SECRET_KEY"]
    env_file = tmp_path / ".env"
    env_file.write_text(
        env_file.read_text().replace(
            "PORTAL_PUBLIC_URL=http://127.0.0.1:9100", "PORTAL_PUBLIC_URL=https://t.example.net"
        )
    )
    assert dev_env.main([]) == 0
    values = dev_env.read(env_file)
    assert values["SECRET_KEY"] == secret
    assert values["PORTAL_PUBLIC_URL"] == "https://t.example.net"
    assert values["TESLA_SANDBOX_URL"] == "http://127.0.0.1:8001"
    assert values["TELEMETRY_MQTT_URL"] == "mqtt://127.0.0.1:1884?version=3.1.1"
    assert values["DEV_PORT"] == "8000"
    assert _seeded_redirects(tmp_path / "sandbox")["global"] == demo_redirect_uris(8000)


def test_a_sandbox_reset_keeps_the_portal_port(tmp_path):
    world = World(tmp_path)
    world.serve_portal_on(9100)
    world.reset()
    assert _seeded_redirects(tmp_path)["cn"] == demo_redirect_uris(9100)


def test_procfile_names_no_fixed_port():
    procfile = (ROOT / "Procfile.dev").read_text()
    for port in ("8000", "8001", "1884"):
        assert port not in procfile
    for variable in ("$DEV_PORT", "$DEV_SANDBOX_PORT", "$DEV_MQTT_PORT"):
        assert variable in procfile


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_a_moved_portal_links_and_registers_with_its_own_key(
    dev_env, tmp_path, live_server, settings
):
    """The portal on another port (live_server's), the sandbox on another, both from .env."""
    port = urlsplit(live_server.url).port
    sandbox_port = _free_port()
    dev_env.main(["--port", str(port), "--sandbox-port", str(sandbox_port)])
    values = dev_env.read(tmp_path / ".env")
    for key in (
        "TESLA_ENV",
        "TESLA_SANDBOX_URL",
        "PORTAL_PUBLIC_URL",
        "TESLA_CLIENT_ID",
        "TESLA_CLIENT_SECRET",
        "TESLA_CN_CLIENT_ID",
        "TESLA_CN_CLIENT_SECRET",
    ):
        setattr(settings, key, values[key])
    settings.TESLA_ALLOWED_ORIGINS = values["TESLA_ALLOWED_ORIGINS"].split(",")
    settings.TESLA_PARTNER_DOMAIN = ""
    settings.TESLA_PRIVATE_KEY_FILE = ""
    with running_sandbox(tmp_path / "sandbox", port=sandbox_port) as sandbox:
        assert sandbox.url == values["TESLA_SANDBOX_URL"]
        call_command("dev_bootstrap", wait=10)
        key = selectors.partner_key()
        rows = PartnerRegistration.objects.order_by("region")
        assert {(r.region, r.state, r.domain) for r in rows} == {
            (region, "registered", f"127.0.0.1:{port}") for region in ("CN", "EU", "NA")
        }
        # The key check: what the sandbox holds for 127.0.0.1:<port> is this portal's key.
        for region in ("NA", "EU", "CN"):
            row = services.partner_registration_check(region=region)
            assert (row.state, row.tesla_public_key_hex) == ("registered", key.public_key_hex)

        # The demo client sends the user back to the moved portal, and no longer to 8000.
        def authorize(redirect_uri: str) -> str:
            query = {
                "client_id": values["TESLA_CLIENT_ID"],
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "openid offline_access vehicle_device_data",
                "state": "s1",
            }
            return f"{sandbox.url}/auth/global/oauth2/v3/authorize?{urlencode(query)}"

        callback = f"http://127.0.0.1:{port}/accounts/tesla/login/callback/"
        assert consent(authorize(callback), "alice@example.com").startswith(callback + "?")
        old = "http://127.0.0.1:8000/accounts/tesla/login/callback/"
        assert requests.get(authorize(old), timeout=10).status_code == 400
