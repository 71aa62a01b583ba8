"""Partner endpoints: registration fetches the hosted key (§3.1-3.3)."""

from __future__ import annotations

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox import fleet
from sandbox.app import create_app
from sandbox.tests.helpers import api, login, partner_token, register_partner


def test_registration_fetches_the_p256_key_and_answers_hex(sandbox, key_server):
    resp = register_partner(sandbox, key_server.domain, "na")
    assert resp.status_code == 200, resp.text
    account = resp.json()["response"]
    assert account["domain"] == key_server.domain
    assert account["public_key"] == key_server.public_hex
    assert len(account["public_key"]) == 130 and account["public_key"].startswith("04")
    assert account["enterprise_tier"] == "free" and account["ca"] is None
    assert sandbox.control.world()["partners"]["NA"] == [account["client_id"]]
    assert sandbox.control.world()["partners"]["EU"] == []


def test_public_key_lookup_by_domain(sandbox, key_server):
    register_partner(sandbox, key_server.domain, "eu")
    token = partner_token(sandbox, "eu")
    resp = api(
        sandbox,
        "eu",
        "GET",
        f"/api/1/partner_accounts/public_key?domain={key_server.domain}",
        token,
    )
    assert resp.status_code == 200
    assert resp.json()["response"] == {"public_key": key_server.public_hex}
    missing = api(sandbox, "eu", "GET", "/api/1/partner_accounts/public_key?domain=x.io", token)
    assert missing.status_code == 404


def test_rsa_key_is_refused(sandbox, key_server):
    key_server.pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    resp = register_partner(sandbox, key_server.domain, "na")
    assert resp.status_code == 422
    assert "prime256v1" in resp.json()["error_description"]
    assert sandbox.control.world()["partners"]["NA"] == []


def test_missing_key_file_is_refused(sandbox, key_server):
    key_server.pem = b""
    resp = register_partner(sandbox, f"localhost:{key_server.domain.split(':')[1]}", "na")
    assert resp.status_code == 422  # empty file is not a PEM key


def test_domain_outside_allowed_origins_is_refused(sandbox):
    for domain in ("example.com", "https://127.0.0.1", "127.0.0.1/path", "LOCALHOST"):
        resp = register_partner(sandbox, domain, "na")
        assert resp.status_code == 422, domain
        assert resp.json()["error"] == "invalid_resource"


def test_user_token_cannot_register(sandbox, key_server):
    token = login(sandbox)["access_token"]
    resp = register_partner(sandbox, key_server.domain, "na", token=token)
    assert resp.status_code == 403
    assert resp.json()["error"] == "Expected partner account"


def test_partner_telemetry_errors_start_empty(sandbox, registered):
    token = partner_token(sandbox, "na")
    resp = api(sandbox, "na", "GET", "/api/1/partner_accounts/fleet_telemetry_errors", token)
    assert resp.status_code == 200
    assert resp.json()["response"] == {"fleet_telemetry_errors": []}


@pytest.mark.parametrize(("https_only", "scheme"), [(False, "http"), (True, "https")])
def test_a_loopback_key_is_fetched_over_https_with_key_fetch_https(monkeypatch, https_only, scheme):
    # `python -m sandbox --key-fetch-https` (scripts/rehearse.sh): the key comes through the
    # rehearsal's TLS proxy on a loopback name, as Tesla fetches it (https only).
    fetched = []

    def get(url, **kwargs):
        fetched.append((url, kwargs["allow_redirects"]))
        raise requests.ConnectionError("nothing listens")

    monkeypatch.setattr(fleet.requests, "get", get)
    app = create_app()
    app.config["SANDBOX_KEY_FETCH_HTTPS"] = https_only
    with app.test_request_context():
        _, problem = fleet.fetch_public_key("localhost:9443")
    url = f"{scheme}://localhost:9443{fleet.PUBLIC_KEY_PATH}"
    assert fetched == [(url, False)]
    assert problem == f"could not fetch the public key from {url}: ConnectionError"
