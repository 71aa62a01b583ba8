"""The control API under `/control/...` (JSON) and the pairing page `/_ak/<domain>`.

The control API exists for tests and demos; it is unauthenticated and never faulted or
logged. The pairing page stands in for the Tesla app's virtual-key approval (§3.4).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from sandbox import fleet, stream, tokens
from sandbox.common import json_response, world
from sandbox.seed import REGION_SERVER, SERVER_REGIONS, demo_client_id, make_vehicle
from sandbox.state import DEFAULT_SETTINGS, Data, new_secret

bp = Blueprint("control", __name__, url_prefix="/control")
pairing_bp = Blueprint("pairing", __name__)

VEHICLE_STATES = ("online", "asleep", "offline")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _bad(message: str, status: int = 400) -> ResponseReturnValue:
    return json_response({"error": message}, status)


def _vehicle(data: Data, vin: str) -> dict[str, Any]:
    vehicle = data["vehicles"].get(vin)
    if vehicle is None:
        abort(json_response({"error": f"unknown vehicle {vin}"}, 404))
    return vehicle


def _user(data: Data, key: str) -> dict[str, Any]:
    for user in data["users"].values():
        if key in (user["id"], user["email"]):
            return user
    abort(json_response({"error": f"unknown user {key}"}, 404))


# -- world -----------------------------------------------------------------------------------


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    world().reset()
    return json_response({"ok": True})


@bp.get("/world")
def world_summary() -> ResponseReturnValue:
    """Users, vehicles and clients (without secrets) for demos."""
    with world().read() as data:
        clients = [
            {k: c[k] for k in ("client_id", "name", "server", "redirect_uris", "allowed_origins")}
            for c in data["clients"].values()
        ]
        vehicles = [
            {
                k: v[k]
                for k in ("vin", "id", "model", "year", "firmware", "state", "region", "access")
            }
            | {"paired_domains": sorted(v["paired_keys"])}
            for v in data["vehicles"].values()
        ]
        return json_response(
            {
                "users": list(data["users"].values()),
                "vehicles": vehicles,
                "clients": clients,
                "partners": {r: sorted(p) for r, p in data["partners"].items()},
                "settings": data["settings"],
                "now": world().now(),
            }
        )


@bp.get("/demo_clients")
def demo_clients() -> ResponseReturnValue:
    with world().read() as data:
        return json_response(
            {
                c["server"]: {"client_id": c["client_id"], "client_secret": c["secret"]}
                for c in data["clients"].values()
                if c.get("seeded")
            }
        )


@bp.post("/clients")
def register_client() -> ResponseReturnValue:
    body = _body()
    server = body.get("server", "global")
    if server not in SERVER_REGIONS:
        return _bad("server must be 'global' or 'cn'")
    redirect_uris = body.get("redirect_uris") or []
    origins = body.get("allowed_origins") or []
    if not all(isinstance(x, str) for x in [*redirect_uris, *origins]):
        return _bad("redirect_uris and allowed_origins must be lists of strings")
    client = {
        "client_id": str(uuid.uuid4()),
        "name": body.get("name") or "Sandbox app",
        "server": server,
        "redirect_uris": redirect_uris,
        "allowed_origins": origins,
        "secret": new_secret(),
        "seeded": False,
    }
    with world().transaction() as data:
        data["clients"][client["client_id"]] = client
    return json_response(
        {"client_id": client["client_id"], "client_secret": client["secret"], "server": server},
        201,
    )


@bp.post("/vehicles")
def add_vehicles() -> ResponseReturnValue:
    """Add `count` generated vehicles to a user (e.g. for pagination tests)."""
    body = _body()
    count = body.get("count", 1)
    if not isinstance(count, int) or not 0 < count <= 1000:
        return _bad("count must be an integer in 1..1000")
    with world().transaction() as data:
        user = _user(data, str(body.get("user", "")))
        start = len(data["vehicles"]) + 1
        vins = []
        for number in range(start, start + count):
            vin = f"SBX{user['region']}{number:012d}"[:17].ljust(17, "0")
            data["vehicles"][vin] = make_vehicle(
                number=number,
                vin=vin,
                model=body.get("model", "Model 3"),
                year=body.get("year", 2024),
                firmware=body.get("firmware", "2025.20.6"),
                state=body.get("state", "online"),
                access={user["id"]: body.get("access_type", "OWNER")},
                display_name=f"Fleet car {number}",
                legacy_hardware=bool(body.get("legacy_hardware", False)),
                region=user["region"],
            )
            vins.append(vin)
    return json_response({"vins": vins}, 201)


# -- faults, latency, settings, clock --------------------------------------------------------


@bp.post("/faults")
def add_fault() -> ResponseReturnValue:
    body = _body()
    match = body.get("match")
    if not isinstance(match, str) or not match:
        return _bad("match (a path suffix or a name such as 'token') is required")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        return _bad("count must be a positive integer or null (forever)")
    fault = {
        "id": uuid.uuid4().hex[:12],
        "match": match,
        "method": (body.get("method") or "").upper() or None,
        "status": body.get("status"),
        "body": body.get("body"),
        "headers": body.get("headers") or {},
        "latency": float(body.get("latency") or 0),
        # Delay the ANSWER after the request was handled (state already changed): a client
        # that dies meanwhile lost Tesla's reply, e.g. a rotated refresh token.
        "latency_after": float(body.get("latency_after") or 0),
        "remaining": count,
    }
    with world().transaction() as data:
        data["faults"].append(fault)
    return json_response(fault, 201)


@bp.get("/faults")
def list_faults() -> ResponseReturnValue:
    with world().read() as data:
        return json_response({"faults": data["faults"]})


@bp.delete("/faults")
def clear_faults() -> ResponseReturnValue:
    with world().transaction() as data:
        data["faults"].clear()
    return json_response({"ok": True})


@bp.post("/latency")
def set_latency() -> ResponseReturnValue:
    seconds = _body().get("seconds", 0)
    if not isinstance(seconds, int | float) or seconds < 0:
        return _bad("seconds must be a non-negative number")
    with world().transaction() as data:
        data["settings"]["latency"] = float(seconds)
    return json_response({"latency": float(seconds)})


@bp.post("/settings")
def update_settings() -> ResponseReturnValue:
    body = _body()
    unknown = sorted(set(body) - set(DEFAULT_SETTINGS))
    if unknown:
        return _bad(f"unknown settings: {', '.join(unknown)}")
    for name, value in body.items():
        expected = type(DEFAULT_SETTINGS[name])
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok or (isinstance(value, bool) and expected is not bool):
            return _bad(f"{name} must be a {expected.__name__}")
        if expected in (int, float) and value < 0:
            return _bad(f"{name} must not be negative")
    if "offline_status" in body and body["offline_status"] not in (408, 500, 503):
        return _bad("offline_status must be 408, 500 or 503 (§4.4)")
    if "pagination_next" in body and body["pagination_next"] not in ("number", "string"):
        return _bad("pagination_next must be 'number' or 'string'")
    with world().transaction() as data:
        data["settings"].update(body)
        return json_response(data["settings"])


@bp.get("/clock")
def get_clock() -> ResponseReturnValue:
    w = world()
    with w.read() as data:
        return json_response({"now": w.now(), "offset": data["clock_offset"]})


@bp.post("/clock/advance")
def advance_clock() -> ResponseReturnValue:
    seconds = _body().get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        return _bad("seconds must be a non-negative number")
    w = world()
    with w.transaction() as data:
        data["clock_offset"] += float(seconds)
        return json_response({"now": w.now(), "offset": data["clock_offset"]})


# -- users -----------------------------------------------------------------------------------


@bp.post("/users/<key>/revoke_consent")
def revoke_consent(key: str) -> ResponseReturnValue:
    """The user revokes the app: chains die, configs go, keys go (§2.4, §3.4, §5.1)."""
    client_id = _body().get("client_id", "")
    with world().transaction() as data:
        user = _user(data, key)
        chains = [
            c
            for c in data["chains"].values()
            if c["user"] == user["id"] and c["client_id"] == client_id and not c["revoked"]
        ]
        for chain in chains:
            tokens.revoke_chain(data, chain)
        configs = 0
        domains = {
            p["domain"]
            for r in data["partners"].values()
            for cid, p in r.items()
            if cid == client_id
        }
        for vehicle in data["vehicles"].values():
            if vehicle["access"].get(user["id"]) != "OWNER":
                continue
            configs += 1 if vehicle["telemetry"].pop(client_id, None) else 0
            for domain in domains:
                vehicle["paired_keys"].pop(domain, None)
    return json_response({"revoked_chains": len(chains), "removed_configs": configs})


@bp.post("/users/<key>/reset_password")
def reset_password(key: str) -> ResponseReturnValue:
    """A password reset kills every token chain of the user (§2.4)."""
    with world().transaction() as data:
        user = _user(data, key)
        chains = [
            c for c in data["chains"].values() if c["user"] == user["id"] and not c["revoked"]
        ]
        for chain in chains:
            tokens.revoke_chain(data, chain)
    return json_response({"revoked_chains": len(chains)})


# -- vehicles --------------------------------------------------------------------------------


@bp.post("/vehicles/<vin>/pair")
def pair(vin: str) -> ResponseReturnValue:
    domain = _body().get("domain", "")
    with world().transaction() as data:
        vehicle = _vehicle(data, vin)
        partner = _partner_for_domain(data, vehicle["region"], domain)
        if partner is None:
            return _bad(f"{domain!r} is not registered in region {vehicle['region']}", 409)
        vehicle["paired_keys"][domain] = partner["public_key"]
    return json_response({"vin": vin, "paired_domains": sorted(vehicle["paired_keys"])})


@bp.post("/vehicles/<vin>/safety_screen_streaming")
def safety_screen_streaming(vin: str) -> ResponseReturnValue:
    """The owner flips "Allow Third-Party App Data Streaming" on an Intel Atom S/X (§3.4)."""
    enabled = _body().get("enabled")
    if not isinstance(enabled, bool):
        return _bad("enabled must be true or false")
    with world().transaction() as data:
        vehicle = _vehicle(data, vin)
        if not vehicle["legacy_hardware"]:
            return _bad(f"{vin} is not an Intel Atom Model S/X (legacy hardware)", 409)
        vehicle["safety_screen_streaming"] = enabled
    return json_response({"vin": vin, "safety_screen_streaming": enabled})


@bp.post("/vehicles/<vin>/firmware")
def set_firmware(vin: str) -> ResponseReturnValue:
    """A software update: the car now runs `firmware` (e.g. "2025.44.25.5")."""
    version = _body().get("firmware")
    if not isinstance(version, str) or not re.fullmatch(r"\d{4}\.\d+(\.\d+){0,2}", version):
        return _bad("firmware must look like 2025.20.6")
    with world().transaction() as data:
        vehicle = _vehicle(data, vin)
        vehicle["firmware"] = version
    return json_response({"vin": vin, "firmware": version})


@bp.post("/vehicles/<vin>/unpair")
def unpair(vin: str) -> ResponseReturnValue:
    domain = _body().get("domain", "")
    with world().transaction() as data:
        vehicle = _vehicle(data, vin)
        vehicle["paired_keys"].pop(domain, None)
    return json_response({"vin": vin, "paired_domains": sorted(vehicle["paired_keys"])})


@bp.post("/vehicles/<vin>/move")
def move(vin: str) -> ResponseReturnValue:
    """The car changes hands (a sale): it leaves every account that saw it and is listed only
    by `user` (as `access_type`, default OWNER), in that user's region."""
    body = _body()
    access_type = body.get("access_type", "OWNER")
    if access_type not in ("OWNER", "DRIVER"):
        return _bad("access_type must be OWNER or DRIVER")
    with world().transaction() as data:
        vehicle = _vehicle(data, vin)
        user = _user(data, str(body.get("user", "")))
        vehicle["access"] = {user["id"]: access_type}
        vehicle["region"] = user["region"]
    return json_response({"vin": vin, "user": user["email"], "access_type": access_type})


@bp.post("/vehicles/<vin>/state")
def set_state(vin: str) -> ResponseReturnValue:
    state = _body().get("state")
    if state not in VEHICLE_STATES:
        return _bad(f"state must be one of {', '.join(VEHICLE_STATES)}")
    w = world()
    with w.transaction() as data:
        vehicle = _vehicle(data, vin)
        vehicle["state"], vehicle["wake_at"] = state, None
        fleet.tick(data, vehicle, w.now())
    return json_response({"vin": vin, "state": state})


@bp.post("/vehicles/<vin>/telemetry_pickup")
def telemetry_pickup(vin: str) -> ResponseReturnValue:
    """The car connects now and adopts every pending config, whatever its state and delay."""
    w = world()
    with w.transaction() as data:
        vehicle = _vehicle(data, vin)
        picked = []
        for client_id, record in vehicle["telemetry"].items():
            if not record["synced"]:
                fleet.pick_up(data, vehicle, client_id, w.now())
                picked.append(client_id)
    return json_response({"vin": vin, "picked_up": picked})


# -- the stream (sandbox/stream.py) -----------------------------------------------------------


def _publisher() -> stream.Publisher | None:
    return current_app.extensions.get("sandbox_stream")


def _running_publisher() -> stream.Publisher:
    publisher = _publisher()
    if publisher is None:
        abort(json_response({"error": "the stream is off: start the sandbox with --mqtt-url"}, 409))
    return publisher


def _stream_controls(data: Data, vin: str) -> dict[str, Any]:
    vehicles = data.setdefault("stream", {"vehicles": {}})["vehicles"]
    return vehicles.setdefault(vin, {"silenced": False, "dropped": [], "as_string": []})


def _change_stream(vin: str, change: Callable[[dict[str, Any]], None]) -> ResponseReturnValue:
    """Apply `change` to the car's stream controls, then answer with them."""
    with world().transaction() as data:
        _vehicle(data, vin)
        controls = _stream_controls(data, vin)
        change(controls)
    # Re-read before answering: once this returns, the car obeys (nothing in flight after).
    publisher = _publisher()
    if publisher is not None:
        publisher.refresh()
    return json_response({"vin": vin, **controls})


def _field_name(body: dict[str, Any]) -> str:
    name = body.get("field")
    if not isinstance(name, str) or not name:
        abort(_bad("field (a telemetry field name) is required"))
    return name


@bp.get("/stream")
def stream_status() -> ResponseReturnValue:
    publisher = _publisher()
    return json_response(publisher.status() if publisher else {"running": False})


@bp.post("/telemetry_configs")
def install_telemetry_configs() -> ResponseReturnValue:
    """Give cars a synced config without the Fleet API push (tests, demos, benchmarks).

    Body: `vins`, `fields` ({name: {"interval_seconds", ...}}), optional `alert_types`,
    `client_id` (default: the demo client of the car's server) and `synced` (default true;
    false = pending, picked up after `telemetry_sync_delay`). Posting again = a re-post.
    """
    body = _body()
    vins, fields = body.get("vins"), body.get("fields")
    if not isinstance(vins, list) or not vins or not all(isinstance(v, str) for v in vins):
        return _bad("vins must be a non-empty list of VINs")
    if not isinstance(fields, dict) or not fields:
        return _bad("fields must be a non-empty object")
    for name, spec in fields.items():
        interval = spec.get("interval_seconds") if isinstance(spec, dict) else None
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            return _bad(f"fields.{name}.interval_seconds must be a positive integer")
    config = {
        "hostname": "127.0.0.1",
        "port": 4443,
        "ca": "-----BEGIN CERTIFICATE-----\nsandbox\n-----END CERTIFICATE-----\n",
        "fields": fields,
        "alert_types": body.get("alert_types") or [],
    }
    w = world()
    with w.transaction() as data:
        vehicles = [_vehicle(data, vin) for vin in vins]
        now = w.now()
        for vehicle in vehicles:
            client_id = body.get("client_id") or demo_client_id(REGION_SERVER[vehicle["region"]])
            vehicle["telemetry"][client_id] = {
                "config": config,
                "synced": body.get("synced", True) is not False,
                "rejected": False,
                "created_at": now,
                "pickup_at": now + data["settings"]["telemetry_sync_delay"],
            }
    publisher = _publisher()
    if publisher is not None:
        publisher.refresh()
    return json_response({"vins": vins}, 201)


@bp.post("/vehicles/<vin>/stream/silence")
def stream_silence(vin: str) -> ResponseReturnValue:
    """The car stops publishing anything (still connected as far as it knows)."""
    return _change_stream(vin, lambda controls: controls.update(silenced=True))


@bp.post("/vehicles/<vin>/stream/unsilence")
def stream_unsilence(vin: str) -> ResponseReturnValue:
    """The car streams again, as after a reboot: CONNECTED, then every field once."""
    return _change_stream(vin, lambda controls: controls.update(silenced=False))


def _listed(key: str, name: str, present: bool) -> Callable[[dict[str, Any]], None]:
    """A change that puts `name` in (or takes it out of) the controls' list `key`."""

    def change(controls: dict[str, Any]) -> None:
        if present and name not in controls[key]:
            controls[key].append(name)
        if not present and name in controls[key]:
            controls[key].remove(name)

    return change


@bp.post("/vehicles/<vin>/stream/drop_field")
def stream_drop_field(vin: str) -> ResponseReturnValue:
    """The car stops sending one configured field (no error tells why)."""
    return _change_stream(vin, _listed("dropped", _field_name(_body()), present=True))


@bp.post("/vehicles/<vin>/stream/restore_field")
def stream_restore_field(vin: str) -> ResponseReturnValue:
    return _change_stream(vin, _listed("dropped", _field_name(_body()), present=False))


@bp.post("/vehicles/<vin>/stream/field_type")
def stream_field_type(vin: str) -> ResponseReturnValue:
    """`type` "string": the field's numbers go out as JSON strings ("72.5"); "number": back."""
    body = _body()
    name = _field_name(body)
    if body.get("type") not in ("string", "number"):
        return _bad("type must be 'string' or 'number'")
    return _change_stream(vin, _listed("as_string", name, present=body["type"] == "string"))


@bp.post("/vehicles/<vin>/stream/alert")
def stream_alert(vin: str) -> ResponseReturnValue:
    """The car raises an alert now (optional `name`); it ends 300 sim seconds later."""
    publisher = _running_publisher()
    name = _body().get("name")
    if name is not None and (not isinstance(name, str) or "/" in name or not name):
        return _bad("name must be an alert name without '/'")
    publisher.refresh()
    try:
        name = publisher.raise_alert(vin, name)
    except stream.StreamOff as exc:
        return _bad(str(exc), 409)
    return json_response({"vin": vin, "alert": name})


@bp.post("/stream/malformed")
def stream_malformed() -> ResponseReturnValue:
    """Publish one bad message: `kind` invalid_json (default), not_utf8, oversized (`size`
    bytes, default 100000) or bad_topic; for `vin` (default the first seeded car) and
    `field` (default BatteryLevel)."""
    publisher = _running_publisher()
    body = _body()
    kind = body.get("kind", "invalid_json")
    if kind not in stream.MALFORMED_KINDS:
        return _bad(f"kind must be one of {', '.join(stream.MALFORMED_KINDS)}")
    size = body.get("size", 100_000)
    if not isinstance(size, int) or not 0 < size <= 10_000_000:
        return _bad("size must be an integer in 1..10000000")
    with world().read() as data:
        vin = body.get("vin") or next(iter(data["vehicles"]))
    topic, payload = stream.malformed(
        kind, publisher.topic_base, vin, body.get("field") or "BatteryLevel", size
    )
    publisher.publish_raw(topic, payload)
    return json_response({"topic": topic, "bytes": len(payload)})


@bp.post("/stream/unknown_vin")
def stream_unknown_vin() -> ResponseReturnValue:
    """Publish `count` (default 1) field messages for a VIN the world does not know."""
    publisher = _running_publisher()
    body = _body()
    vin = body.get("vin", "SBXUNKNOWN0000000")
    count = body.get("count", 1)
    if not isinstance(vin, str) or not vin or "/" in vin:
        return _bad("vin must be a VIN")
    if not isinstance(count, int) or not 0 < count <= 10_000:
        return _bad("count must be an integer in 1..10000")
    with world().read() as data:
        if vin in data["vehicles"]:
            return _bad(f"{vin} is a vehicle of this world", 409)
    name = body.get("field") or "BatteryLevel"
    topic = f"{publisher.topic_base}/{vin}/v/{name}"
    payload = json.dumps(body.get("value", 55.5)).encode()
    for _ in range(count):
        publisher.publish_raw(topic, payload)
    return json_response({"topic": topic, "count": count})


# -- request log -----------------------------------------------------------------------------


@bp.get("/requests")
def list_requests() -> ResponseReturnValue:
    path = request.args.get("path")
    with world().read() as data:
        entries = [e for e in data["request_log"] if not path or e["path"].endswith(path)]
    return json_response({"requests": entries})


@bp.get("/counters")
def counters() -> ResponseReturnValue:
    """Exact counts of answered requests since start or reset (sandbox/counters.py)."""
    return json_response(world().counters.snapshot(current_app))


@bp.delete("/requests")
def clear_requests() -> ResponseReturnValue:
    w = world()
    with w.transaction() as data:
        data["request_log"].clear()
        w.log_epoch += 1
    return json_response({"ok": True})


# -- pairing page (stand-in for the Tesla app) ------------------------------------------------


def _partner_for_domain(data: Data, region: str, domain: str) -> dict[str, Any] | None:
    for record in data["partners"][region].values():
        if record["domain"] == domain:
            return record
    return None


@pairing_bp.route("/_ak/<domain>", methods=["GET", "POST"])
def pairing_page(domain: str) -> ResponseReturnValue:
    vin = request.values.get("vin", "")
    w = world()
    with w.transaction() as data:
        vehicle = data["vehicles"].get(vin)
        if vehicle is None:
            return _pairing(domain, None, "Choose a vehicle: add ?vin=<VIN> to the link.", 400)
        fleet.tick(data, vehicle, w.now())
        partner = _partner_for_domain(data, vehicle["region"], domain)
        if partner is None:
            # What the Tesla app shows when the key is not registered/hosted (§3.1).
            return _pairing(domain, vehicle, _not_registered(domain), 400)
        if vehicle["state"] != "online":
            # The car must be online to accept a key (§3.4).
            return _pairing(domain, vehicle, "The vehicle is not online. Wake it and retry.", 409)
        registered_key = partner["public_key"]
    # The key "must be and remain hosted" (§3.1): fetched again at every pairing, outside the
    # lock (the key host may be slow, or a caller of ours). Gone, or not the registered key:
    # the app's "has not registered" message, with the sandbox's reason beside it.
    hosted, problem = fleet.fetch_public_key(domain)
    if problem is None and hosted != registered_key:
        problem = "the hosted key is not the key registered for this domain"
    if problem is not None:
        return _pairing(domain, vehicle, _not_registered(domain), 400, detail=problem)
    if request.method == "GET":
        return _pairing(domain, vehicle, "", 200, can_pair=True)
    with w.transaction() as data:
        vehicle = data["vehicles"][vin]
        partner = _partner_for_domain(data, vehicle["region"], domain)
        if partner is None or partner["public_key"] != registered_key:
            # Re-registered while we fetched: ask again rather than pair a stale key.
            return _pairing(domain, vehicle, _not_registered(domain), 409)
        vehicle["paired_keys"][domain] = registered_key
    return _pairing(domain, vehicle, f"Key for {domain} added to {vin}.", 200)


def _not_registered(domain: str) -> str:
    return f"{domain} application has not registered."


def _pairing(
    domain: str,
    vehicle: dict[str, Any] | None,
    message: str,
    status: int,
    *,
    can_pair: bool = False,
    detail: str = "",
) -> ResponseReturnValue:
    html = render_template(
        "pairing.html",
        domain=domain,
        vehicle=vehicle,
        message=message,
        detail=detail,
        status=status,
        can_pair=can_pair,
    )
    return html, status
