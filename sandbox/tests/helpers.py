"""Small HTTP helpers for the sandbox tests: real requests against the running sandbox."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.testing import SandboxHandle

TIMEOUT = 10
REDIRECT = "http://127.0.0.1:8000/accounts/tesla/login/callback/"
CN_REDIRECT = "http://127.0.0.1:8000/accounts/tesla_cn/login/callback/"
ALL_SCOPES = "openid offline_access user_data vehicle_device_data vehicle_location vehicle_cmds"
SERVER_OF = {"na": "global", "eu": "global", "cn": "cn"}


def client(sb: SandboxHandle, server: str = "global") -> dict[str, str]:
    return sb.demo_clients[server]


def authorize_params(
    client_id: str, *, redirect: str = REDIRECT, scope: str = ALL_SCOPES, **extra: str
) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": scope,
        "state": "state-123",
        **extra,
    }


def consent(
    sb: SandboxHandle,
    *,
    server: str = "global",
    user: str = "alice@example.com",
    scope: str = ALL_SCOPES,
    granted: list[str] | None = None,
    redirect: str | None = None,
    action: str = "approve",
    creds: dict[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """POST the consent form like a script would; returns the callback query."""
    redirect = redirect or (CN_REDIRECT if server == "cn" else REDIRECT)
    creds = creds or client(sb, server)
    form: dict[str, Any] = authorize_params(
        creds["client_id"], redirect=redirect, scope=scope, **extra
    )
    form.update(user=user, action=action, granted=granted or scope.split())
    resp = requests.post(
        f"{sb.issuer(server)}/authorize", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(redirect)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    sb: SandboxHandle,
    code: str,
    *,
    server: str = "global",
    redirect: str | None = None,
    audience: str | None = "default",
    secret: str | None = None,
    verifier: str | None = None,
    creds: dict[str, str] | None = None,
) -> requests.Response:
    creds = creds or client(sb, server)
    form = {
        "grant_type": "authorization_code",
        "client_id": creds["client_id"],
        "client_secret": secret if secret is not None else creds["client_secret"],
        "code": code,
        "redirect_uri": redirect or (CN_REDIRECT if server == "cn" else REDIRECT),
    }
    if audience == "default":
        audience = sb.fleet("cn" if server == "cn" else "na")
    if audience is not None:
        form["audience"] = audience
    if verifier is not None:
        form["code_verifier"] = verifier
    return requests.post(f"{sb.issuer(server)}/token", data=form, timeout=TIMEOUT)


def login(
    sb: SandboxHandle,
    *,
    user: str = "alice@example.com",
    server: str = "global",
    scope: str = ALL_SCOPES,
    creds: dict[str, str] | None = None,
) -> dict[str, Any]:
    query = consent(sb, server=server, user=user, scope=scope, creds=creds)
    resp = exchange(sb, query["code"], server=server, creds=creds)
    assert resp.status_code == 200, resp.text
    return resp.json()


def refresh(sb: SandboxHandle, token: str, *, server: str = "global") -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": client(sb, server)["client_id"],
        "refresh_token": token,
    }
    return requests.post(f"{sb.issuer(server)}/token", data=form, timeout=TIMEOUT)


def partner_token(
    sb: SandboxHandle, region: str = "na", creds: dict[str, str] | None = None
) -> str:
    server = SERVER_OF[region]
    creds = creds or client(sb, server)
    form = {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "audience": sb.fleet(region),
        "scope": "openid vehicle_device_data",
    }
    resp = requests.post(f"{sb.issuer(server)}/token", data=form, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def api(
    sb: SandboxHandle, region: str, method: str, path: str, token: str | None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method, f"{sb.fleet(region)}{path}", headers=headers, timeout=TIMEOUT, **kwargs
    )


def pkce_pair(verifier: str = "v" * 64) -> tuple[str, str]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


class KeyServer:
    """Serves `/.well-known/appspecific/com.tesla.3p.public-key.pem` on 127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.pem: bytes | None = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path = "/.well-known/appspecific/com.tesla.3p.public-key.pem"
                if self.path != path or owner.pem is None:  # None: the key is taken down
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.end_headers()
                self.wfile.write(owner.pem)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.domain = f"127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def public_hex(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            .hex()
        )

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[KeyServer]:
        server = cls()
        thread = threading.Thread(
            target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield server
        finally:
            server.httpd.shutdown()
            server.httpd.server_close()
            thread.join(timeout=5)


def register_partner(
    sb: SandboxHandle,
    domain: str,
    region: str = "na",
    token: str | None = None,
) -> requests.Response:
    token = token or partner_token(sb, region)
    return api(sb, region, "POST", "/api/1/partner_accounts", token, json={"domain": domain})


FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBsandbox\n-----END CERTIFICATE-----\n"


def telemetry_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "port": 4443,
        "ca": FAKE_CA,
        "fields": {"BatteryLevel": {"interval_seconds": 60}},
        "alert_types": ["service"],
    }
    config.update(overrides)
    return config
