"""HTTPS through the session factory, against a real local TLS server: connections kept alive,
the CA bundle parsed once per process, certificate and host name checks still on."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from teslafleet import http as tesla_http
from teslafleet.fleet import FleetClient
from teslafleet.http import make_session, tls_context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _ca_and_server(folder: Path, *, san: x509.GeneralName) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed for `san`: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return (
        _pem(folder / "ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
        _pem(folder / "cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
        _pem(
            folder / "key.pem",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ),
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    body = b'{"response": {"ok": true}}'
    seen: list[str] | None = None  # the paths asked for, where a subclass keeps them

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.seen is not None:
            self.seen.append(self.path)
        body = self.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def _tls_server(cert: Path, key: Path) -> Iterator[tuple[str, list[object]]]:
    """An HTTPS server on 127.0.0.1; yields its URL and the connections it accepted."""
    accepted: list[object] = []

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):  # type: ignore[no-untyped-def]
            sock, address = super().get_request()
            accepted.append(address)
            return sock, address

    server = Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", accepted
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch):
    # requests lets these override a session's own `verify` (Session.merge_environment_settings).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def tls(tmp_path):
    ca, cert, key = _ca_and_server(tmp_path, san=x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    with _tls_server(cert, key) as (url, accepted):
        yield ca, url, accepted


def test_a_session_keeps_its_https_connection_alive(tls):
    ca, url, accepted = tls
    session = make_session()
    session.verify = str(ca)
    for _ in range(5):
        assert session.get(f"{url}/x").json() == {"response": {"ok": True}}
    assert len(accepted) == 1


def test_the_ca_bundle_is_parsed_once_per_process_not_per_connection(tls, monkeypatch):
    ca, url, accepted = tls
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self, *args, **kwargs):
        loads.append(args or kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    monkeypatch.setattr(tesla_http, "_contexts", {})
    for _ in range(3):  # three sessions: three new connections, one shared context
        session = make_session()
        session.verify = str(ca)
        assert session.get(f"{url}/x").status_code == 200
        session.close()
    assert len(accepted) == 3
    assert len(loads) == 1
    assert tls_context(str(ca)) is tls_context(str(ca))


def test_a_warm_request_does_not_look_the_ca_bundle_up_on_the_file_system(tls, monkeypatch):
    ca, url, _ = tls
    session = make_session()
    session.verify = str(ca)
    session.get(f"{url}/x")  # warm: the context is built, the connection open
    looked_up: list[str] = []
    for name in ("exists", "isdir", "isfile"):
        real = getattr(os.path, name)

        def watching(path, real=real):
            looked_up.append(str(path))
            return real(path)

        monkeypatch.setattr(os.path, name, watching)
    for _ in range(3):
        assert session.get(f"{url}/x").status_code == 200
    assert str(ca) not in looked_up


def test_a_ca_bundle_that_does_not_exist_is_refused(tls, tmp_path):
    _, url, _ = tls
    session = make_session()
    session.verify = str(tmp_path / "missing.pem")
    with pytest.raises(OSError):
        session.get(f"{url}/x")


def test_an_untrusted_certificate_is_refused(tls):
    _, url, _ = tls
    with pytest.raises(requests.exceptions.SSLError):
        make_session().get(f"{url}/x")  # certifi's roots do not include the test CA


def test_a_certificate_for_another_host_is_refused(tmp_path):
    ca, cert, key = _ca_and_server(tmp_path, san=x509.DNSName("elsewhere.example"))
    with _tls_server(cert, key) as (url, _):
        session = make_session()
        session.verify = str(ca)
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"{url}/x")


def test_a_fleet_client_leaves_a_borrowed_session_open_and_closes_its_own(tls):
    ca, url, accepted = tls
    session = make_session()
    session.verify = str(ca)
    with FleetClient(url, "token", allowed_base_urls=frozenset({url}), session=session) as c:
        c.me()
    with FleetClient(url, "token", allowed_base_urls=frozenset({url}), session=session) as c:
        c.me()
    assert len(accepted) == 1  # the second client reused the first one's connection
    assert session.adapters["https://"].poolmanager.pools.keys()  # still open
    own = FleetClient(url, "token", allowed_base_urls=frozenset({url}))
    own._session.verify = str(ca)
    own.me()
    pools = own._session.adapters["https://"].poolmanager.pools
    assert len(pools.keys()) == 1
    own.close()
    assert len(pools.keys()) == 0


class _Proxy(_Handler):
    """A forward proxy that answers itself: `seen` holds the absolute URLs it was asked for."""

    body = b'{"response": "via proxy"}'


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    handler = type("Proxy", (_Proxy,), {"seen": []})  # a list of its own per test
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_environments_proxy_is_honoured_and_looked_up_once_per_host(proxy, monkeypatch):
    proxy_url, seen = proxy
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    session = make_session()
    assert session.get("http://fleet.example.invalid/a").json() == {"response": "via proxy"}
    assert seen == ["http://fleet.example.invalid/a"]
    # Looked up once for the session's life: the same host keeps going through the proxy...
    monkeypatch.delenv("HTTP_PROXY")
    assert session.get("http://fleet.example.invalid/b").status_code == 200
    assert seen[-1] == "http://fleet.example.invalid/b"
    # ...while a new session, or another host, reads the environment as it is now.
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session().get("http://fleet.example.invalid/c", timeout=2)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get("http://other.example.invalid/d", timeout=2)
    assert len(seen) == 2


def test_no_proxy_and_explicit_proxies_keep_their_meaning(proxy, monkeypatch):
    proxy_url, seen = proxy
    for name in ("ALL_PROXY", "all_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "direct.example.invalid")
    session = make_session()
    # Bypassed: a direct connection to a name that does not resolve.
    with pytest.raises(requests.exceptions.ConnectionError) as bypassed:
        session.get("http://direct.example.invalid/x", timeout=2)
    assert "ProxyError" not in type(bypassed.value).__name__
    # Through the environment's (dead) proxy.
    with pytest.raises(requests.exceptions.ProxyError):
        session.get("http://fleet.example.invalid/x", timeout=2)
    # A proxy given with the request wins over the environment's.
    answer = session.get("http://fleet.example.invalid/y", proxies={"http": proxy_url})
    assert answer.json() == {"response": "via proxy"}
    assert seen == ["http://fleet.example.invalid/y"]
