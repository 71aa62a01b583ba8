"""Run the sandbox in-process for tests: `with running_sandbox() as sb: sb.url ...`."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import requests

from sandbox.app import create_app
from sandbox.serving import DEFAULT_THREADS, bound_port, make_server
from sandbox.state import World
from sandbox.stream import Publisher, StreamOff
from sandbox.tls import TLSFiles

TIMEOUT = 10


class ConsentFormInputs(HTMLParser):
    """The inputs a browser would submit from the sandbox's consent form."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.radios: dict[str, list[str]] = {}
        self.scopes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        name = attributes.get("name")
        if tag != "input" or not name:
            return
        kind = attributes.get("type", "text")
        value = attributes.get("value") or ""
        if kind == "radio":
            self.radios.setdefault(name, []).append(value)
        elif kind == "checkbox":
            self.scopes.append(value)
        else:
            self.fields.append((name, value))


def consent(
    authorize_url: str,
    user: str,
    *,
    action: str = "approve",
    granted: list[str] | None = None,
    session: requests.Session | None = None,
) -> str:
    """Do what a person does on the sandbox's sign-in page: pick `user`, tick the scopes
    (`granted`, default all requested), allow or cancel. Returns the redirect Location."""
    http = session or requests.Session()
    page = http.get(authorize_url, timeout=TIMEOUT)
    if page.status_code != 200:
        raise ControlError(f"consent page answered {page.status_code}: {page.text[:200]}")
    form = ConsentFormInputs()
    form.feed(page.text)
    if user not in form.radios.get("user", []):
        raise ControlError(f"the consent page offers no Tesla account {user}")
    scopes = form.scopes if granted is None else granted
    data = [*form.fields, ("user", user), ("action", action)]
    data += [("granted", scope) for scope in scopes]
    # The form has no action attribute, so a browser posts back to the page's own URL.
    answer = http.post(authorize_url, data=data, allow_redirects=False, timeout=TIMEOUT)
    if answer.status_code != 302:
        raise ControlError(f"consent answered {answer.status_code}, not a redirect")
    return answer.headers["Location"]


def register_partner(
    sandbox_url: str, server: str, client: dict[str, str], domain: str
) -> list[str]:
    """Register `client` as partner for `domain` in every region of `server` ("global" or
    "cn"), as an operator must before users' calls work (Tesla answers 412 otherwise).
    Uses only the portal's framework-free Tesla library; returns the region codes."""
    from teslafleet import oauth
    from teslafleet.fleet import FleetClient
    from teslafleet.regions import sandbox_table

    table = sandbox_table(sandbox_url)
    registered = []
    for region in table.regions_for(server):
        token = oauth.partner_token(
            table.auth_server(server),
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            audience=region.base_url,
        )
        with FleetClient(
            region.base_url, token.access_token, allowed_base_urls={region.base_url}
        ) as fleet:
            fleet.partner_register(domain)
        registered.append(region.code)
    return registered


class ControlError(RuntimeError):
    """A control-API call the sandbox refused."""


@dataclass
class Control:
    """A thin client for `{root}/control/...`."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)
    # A CA bundle path for an HTTPS sandbox. Passed per request: requests lets the
    # REQUESTS_CA_BUNDLE environment variable override `Session.verify`.
    verify: bool | str = True

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.session.request(
            method, f"{self.url}/control{path}", json=body, timeout=TIMEOUT, verify=self.verify
        )
        if resp.status_code >= 400:
            raise ControlError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def world(self) -> dict[str, Any]:
        return self._call("GET", "/world")

    def demo_clients(self) -> dict[str, dict[str, str]]:
        return self._call("GET", "/demo_clients")

    def register_client(
        self,
        *,
        server: str = "global",
        redirect_uris: list[str] | None = None,
        allowed_origins: list[str] | None = None,
        name: str | None = None,
    ) -> dict[str, str]:
        body = {
            "server": server,
            "redirect_uris": redirect_uris or [],
            "allowed_origins": allowed_origins or [],
            "name": name,
        }
        return self._call("POST", "/clients", body)

    def add_vehicles(self, user: str, count: int, **fields: Any) -> list[str]:
        return self._call("POST", "/vehicles", {"user": user, "count": count, **fields})["vins"]

    def fault(
        self,
        match: str,
        *,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        latency: float = 0,
        count: int | None = None,
        method: str | None = None,
        latency_after: float = 0,
    ) -> dict[str, Any]:
        payload = {
            "match": match,
            "status": status,
            "body": body,
            "headers": headers,
            "latency": latency,
            "latency_after": latency_after,
            "count": count,
            "method": method,
        }
        return self._call("POST", "/faults", payload)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def latency(self, seconds: float) -> None:
        self._call("POST", "/latency", {"seconds": seconds})

    def settings(self, **values: Any) -> dict[str, Any]:
        return self._call("POST", "/settings", values)

    def advance_clock(self, seconds: float) -> float:
        return self._call("POST", "/clock/advance", {"seconds": seconds})["now"]

    def now(self) -> float:
        return self._call("GET", "/clock")["now"]

    def revoke_consent(self, user: str, client_id: str) -> dict[str, Any]:
        return self._call("POST", f"/users/{user}/revoke_consent", {"client_id": client_id})

    def reset_password(self, user: str) -> dict[str, Any]:
        return self._call("POST", f"/users/{user}/reset_password")

    def pair(self, vin: str, domain: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/pair", {"domain": domain})

    def safety_screen_streaming(self, vin: str, enabled: bool) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/safety_screen_streaming", {"enabled": enabled})

    def set_firmware(self, vin: str, firmware: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/firmware", {"firmware": firmware})

    def unpair(self, vin: str, domain: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/unpair", {"domain": domain})

    def move_vehicle(self, vin: str, user: str, access_type: str = "OWNER") -> dict[str, Any]:
        return self._call(
            "POST", f"/vehicles/{vin}/move", {"user": user, "access_type": access_type}
        )

    def set_state(self, vin: str, state: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/state", {"state": state})

    def telemetry_pickup(self, vin: str) -> list[str]:
        return self._call("POST", f"/vehicles/{vin}/telemetry_pickup")["picked_up"]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        params = f"?{urlencode({'path': path})}" if path else ""
        return self._call("GET", f"/requests{params}")["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def counters(self) -> dict[str, Any]:
        """Exact request counts since start or the last reset (sandbox/README.md)."""
        return self._call("GET", "/counters")

    # -- the stream (sandbox/stream.py) --------------------------------------------------------

    def stream_status(self) -> dict[str, Any]:
        return self._call("GET", "/stream")

    def install_telemetry_config(
        self,
        vins: list[str],
        fields: dict[str, dict[str, Any]],
        *,
        alert_types: list[str] | None = None,
        client_id: str | None = None,
        synced: bool = True,
    ) -> list[str]:
        """A synced config on `vins` without the Fleet API push; again = a re-post."""
        body = {
            "vins": vins,
            "fields": fields,
            "alert_types": alert_types or [],
            "client_id": client_id,
            "synced": synced,
        }
        return self._call("POST", "/telemetry_configs", body)["vins"]

    def silence(self, vin: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/stream/silence")

    def unsilence(self, vin: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/stream/unsilence")

    def drop_field(self, vin: str, name: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/stream/drop_field", {"field": name})

    def restore_field(self, vin: str, name: str) -> dict[str, Any]:
        return self._call("POST", f"/vehicles/{vin}/stream/restore_field", {"field": name})

    def field_type(self, vin: str, name: str, json_type: str) -> dict[str, Any]:
        """json_type "string" (numbers sent as "12.3") or "number"."""
        body = {"field": name, "type": json_type}
        return self._call("POST", f"/vehicles/{vin}/stream/field_type", body)

    def raise_alert(self, vin: str, name: str | None = None) -> str:
        return self._call("POST", f"/vehicles/{vin}/stream/alert", {"name": name})["alert"]

    def publish_malformed(
        self, kind: str = "invalid_json", *, vin: str | None = None, field: str | None = None
    ) -> dict[str, Any]:
        return self._call("POST", "/stream/malformed", {"kind": kind, "vin": vin, "field": field})

    def publish_unknown_vin(
        self, vin: str = "SBXUNKNOWN0000000", *, field: str = "BatteryLevel", count: int = 1
    ) -> dict[str, Any]:
        body = {"vin": vin, "field": field, "count": count}
        return self._call("POST", "/stream/unknown_vin", body)


@dataclass
class SandboxHandle:
    url: str
    control: Control
    world: World
    stream: Publisher | None = None

    @property
    def demo_clients(self) -> dict[str, dict[str, str]]:
        """{"global": {"client_id", "client_secret"}, "cn": {...}}"""
        return self.control.demo_clients()

    def issuer(self, server: str = "global") -> str:
        return f"{self.url}/auth/{server}/oauth2/v3"

    def fleet(self, region: str) -> str:
        return f"{self.url}/fleet/{region.lower()}"


@contextmanager
def running_sandbox(
    state_dir: str | os.PathLike[str] | None = None,
    *,
    port: int = 0,
    mqtt_url: str | None = None,
    topic_base: str = "telemetry",
    time_scale: float = 1.0,
    tls: TLSFiles | None = None,
    threads: int = DEFAULT_THREADS,
) -> Iterator[SandboxHandle]:
    """Serve a sandbox on 127.0.0.1 (a free port unless `port` is given) in a thread.

    With `mqtt_url` it also publishes the cars' stream (like `--mqtt-url`), waiting until
    the broker accepted the connection; use a unique `topic_base` per test. With `tls`
    (sandbox/tls.py `throwaway_ca`) it serves HTTPS; clients verify against `tls.ca`.
    cheroot writes no access log, so authorize query strings are never printed.
    """
    world = World(state_dir)
    app = create_app(world=world)
    publisher = None
    if mqtt_url:
        publisher = Publisher(world, mqtt_url, topic_base=topic_base, time_scale=time_scale)
        app.extensions["sandbox_stream"] = publisher
        publisher.start()
        if not publisher.wait_connected(TIMEOUT):
            publisher.stop()
            raise StreamOff(f"no MQTT broker answered at {mqtt_url}")
    try:
        # Bind first (port 0) so the public URL can name the real port.
        server = make_server(
            app,
            "127.0.0.1",
            port,
            threads=threads,
            tls_cert=tls.cert if tls else None,
            tls_key=tls.key if tls else None,
        )
    except BaseException:
        if publisher is not None:
            publisher.stop()
        raise
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{bound_port(server)}"
    app.config["SANDBOX_PUBLIC_URL"] = url
    thread = threading.Thread(target=server.serve, name="tesla-sandbox", daemon=True)
    thread.start()
    control = Control(url, verify=str(tls.ca) if tls else True)
    try:
        yield SandboxHandle(url=url, control=control, world=world, stream=publisher)
    finally:
        control.session.close()
        server.stop()
        thread.join(timeout=5)
        if publisher is not None:
            publisher.stop()


@dataclass
class Message:
    topic: str
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttRecorder:
    """Subscribes to `<base>/#` on a broker and keeps every message, for assertions.

    `wait_for(predicate)` blocks until some message (or the list) satisfies it, with a
    deadline: tests wait for conditions instead of sleeping.
    """

    def __init__(self, host: str, port: int, topic_base: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.topic_base = topic_base
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sandbox-recorder-{uuid.uuid4().hex[:10]}",
        )
        self._client.on_connect = lambda c, u, f, r, p: c.subscribe(f"{topic_base}/#", qos=1)
        self._client.on_subscribe = lambda c, u, mid, r, p: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._subscribed.wait(TIMEOUT):
            self.close()
            raise ControlError(f"could not subscribe to {topic_base}/# on {host}:{port}")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def snapshot(self) -> list[Message]:
        with self._cond:
            return list(self.messages)

    def under(self, suffix: str) -> list[Message]:
        """Messages whose topic starts with `<base>/<suffix>`, e.g. under(f"{vin}/v/")."""
        prefix = f"{self.topic_base}/{suffix}"
        return [m for m in self.snapshot() if m.topic.startswith(prefix)]

    def wait_for(
        self, predicate: Callable[[list[Message]], Any], timeout: float = 20.0
    ) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = [m.topic for m in self.messages[-10:]]
                    raise AssertionError(f"condition not met in {timeout} s; last topics {tail}")
                self._cond.wait(left)
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def recording(topic_base: str, host: str = "127.0.0.1", port: int = 1883) -> Iterator[MqttRecorder]:
    recorder = MqttRecorder(host, port, topic_base)
    try:
        yield recorder
    finally:
        recorder.close()
