"""The regional Fleet APIs under `/fleet/<na|eu|cn>` (§3.2-3.5, §4.1-4.4, §5.2-5.7)."""

from __future__ import annotations

import copy
import functools
import ipaddress
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, abort, current_app, g, request
from flask.typing import ResponseReturnValue

from sandbox import firmware, tokens
from sandbox.common import developer_site, envelope, fleet_base, fleet_error, world
from sandbox.state import Data, iso
from sandbox.vehicle_data import build as build_vehicle_data
from sandbox.vehicle_data import requested as vehicle_data_objects
from teslafleet.jws import TELEMETRY_AUDIENCE, InvalidToken, issuer_for, verify
from teslafleet.telemetry import LOCATION_FIELDS

bp = Blueprint("fleet", __name__, url_prefix="/fleet/<region>")

REGIONS = ("NA", "EU", "CN")
PUBLIC_KEY_PATH = "/.well-known/appspecific/com.tesla.3p.public-key.pem"
KEY_FETCH_TIMEOUT = 5
UNKNOWN_ISSUER = "error loading config file: InvalidSignature: unknown issuer"
_HOST_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


@bp.url_value_preprocessor
def _pull_region(endpoint: str | None, values: dict[str, Any] | None) -> None:
    region = (values or {}).pop("region", "").upper()
    if region not in REGIONS:
        abort(404)
    g.region = region


@bp.get("/status")
def status() -> ResponseReturnValue:
    # Plain `ok`, no auth (§1.1).
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


# -- bearer checks ---------------------------------------------------------------------------


@dataclass
class Caller:
    claims: dict[str, Any]
    client_id: str
    partner: bool
    user: dict[str, Any] | None


class Denied(Exception):
    def __init__(self, response: ResponseReturnValue) -> None:
        super().__init__("denied")
        self.response = response


@bp.errorhandler(Denied)
def _denied(exc: Denied) -> ResponseReturnValue:
    return exc.response


def authenticate(
    data: Data, *, kind: str, scopes: tuple[str, ...] = (), need_registration: bool = True
) -> Caller:
    """Check the bearer token for this region in Tesla's order; raise Denied otherwise.

    kind is "user", "partner" or "any".
    """
    region = g.region
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise Denied(fleet_error(401, "invalid bearer token"))
    raw = header[7:].strip()
    try:
        claims = tokens.decode_access(world(), raw)
        tokens.check_not_revoked(data, raw, claims)
    except tokens.TokenRejected as exc:
        raise Denied(fleet_error(401, exc.reason)) from exc
    if fleet_base(region) not in claims.get("aud", []):
        raise Denied(fleet_error(401, "invalid bearer token"))
    partner = claims["sub"] == claims["azp"]
    if kind == "partner" and not partner:
        raise Denied(fleet_error(403, "Expected partner account"))
    if kind == "user" and partner:
        # UNKNOWN: Tesla's answer to a partner token on a user endpoint; sandbox choice.
        raise Denied(fleet_error(403, "Expected third-party token"))
    client_id = claims["azp"]
    # §4.3: registration (412) is checked before the user's region (421) - stricter.
    if need_registration and client_id not in data["partners"][region]:
        raise Denied(
            fleet_error(
                412,
                f"Account {client_id} must be registered in the current region "
                f"{fleet_base(region)}, please see https://developer.tesla.com/docs/fleet-api/"
                "endpoints/partner-endpoints#register",
            )
        )
    user = None
    if not partner:
        user = data["users"].get(claims["sub"])
        if user is None:
            raise Denied(fleet_error(401, "unknown user"))
        # Whose token made the call (the user, never the token): tests check which link a
        # page used.
        g.log_extra = {**getattr(g, "log_extra", {}), "user": user["email"]}
        if user["region"] != region:
            right = fleet_base(user["region"])
            # §4.3: body and Alt-Svc; the full base URL because of path prefixes.
            raise Denied(
                fleet_error(
                    421,
                    f"user out of region, use base URL: {right}, see "
                    "https://developer.tesla.com/docs/fleet-api#regional-requirements",
                    headers={"Alt-Svc": f"h2={right}"},
                )
            )
    if any(s not in claims.get("scp", []) for s in scopes):
        raise Denied(fleet_error(403, "Unauthorized missing scopes"))
    return Caller(claims=claims, client_id=client_id, partner=partner, user=user)


def _json_body() -> dict[str, Any]:
    if request.mimetype != "application/json":
        # 2023 docs: 406 not_a_JSON_request (§4.1, §4.3).
        raise Denied(fleet_error(406, "not_a_JSON_request"))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Denied(fleet_error(400, "invalid_request", "body must be a JSON object"))
    return body


def _vins(body: dict[str, Any]) -> list[str]:
    vins = body.get("vins")
    if not isinstance(vins, list) or not vins or not all(isinstance(v, str) for v in vins):
        raise Denied(fleet_error(400, "invalid_field", "vins must be a non-empty list of VINs"))
    return vins


# -- vehicles: lookup, clock-driven state --------------------------------------------------


def tick(data: Data, vehicle: dict[str, Any], now: float) -> None:
    """Advance a car's simulated state to the sandbox clock (wake-ups, config pickup)."""
    if (
        vehicle["state"] == "asleep"
        and vehicle["wake_at"] is not None
        and now >= vehicle["wake_at"]
    ):
        vehicle["state"], vehicle["wake_at"] = "online", None
    if vehicle["state"] != "online":
        return
    for client_id, record in vehicle["telemetry"].items():
        if not record["synced"] and now >= record["pickup_at"]:
            pick_up(data, vehicle, client_id, now)


def pick_up(data: Data, vehicle: dict[str, Any], client_id: str, now: float) -> None:
    """The car adopts the pending config, rejecting one not signed by the partner's key or
    one asking for what its client is too old to do.

    §5.4: Fleet API accepts a wrongly signed config; the *vehicle* rejects it and reports
    `unknown issuer` via fleet_telemetry_errors, GET then shows synced true, config null.
    """
    record = vehicle["telemetry"][client_id]
    record["synced"] = True
    partner = data["partners"][vehicle["region"]].get(client_id)
    expected = issuer_for(bytes.fromhex(partner["public_key"])) if partner else None
    if record["config"].get("iss") != expected:
        error = UNKNOWN_ISSUER
    else:
        # A client older than 1.0.0 cannot honour delivery_policy or a location
        # minimum_delta (§5.5); what a real car does is UNKNOWN: the sandbox's car refuses
        # the whole config and says why (sandbox/README.md).
        features = firmware.unsupported_features(vehicle, record["config"])
        if not features:
            return
        error = (
            f"error loading config file: {', '.join(features)} needs Fleet Telemetry client "
            f"1.0.0, vehicle runs {firmware.client_version(vehicle) or 'none'}"
        )
    record["rejected"] = True
    vehicle["telemetry_errors"].append(
        {
            "created_at": iso(now),
            "error": error,
            "error_name": "config_manager_error",
            "name": client_id,
            "txID": str(uuid.uuid4()),
            "vin": vehicle["vin"],
        }
    )


def _find_vehicle(data: Data, tag: str) -> dict[str, Any] | None:
    vehicle = data["vehicles"].get(tag)
    if vehicle is not None:
        return vehicle
    for candidate in data["vehicles"].values():
        if str(candidate["id"]) == tag:
            return candidate
    return None


def user_vehicle(data: Data, caller: Caller, tag: str) -> dict[str, Any]:
    vehicle = _find_vehicle(data, tag)
    if (
        vehicle is None
        or caller.user is None
        or caller.user["id"] not in vehicle["access"]
        or vehicle["region"] != g.region
    ):
        raise Denied(fleet_error(404, "not_found"))
    tick(data, vehicle, world().now())
    return vehicle


def vehicle_json(vehicle: dict[str, Any], user_id: str) -> dict[str, Any]:
    return {
        "id": vehicle["id"],
        "vehicle_id": vehicle["vehicle_id"],
        "vin": vehicle["vin"],
        "color": None,
        "access_type": vehicle["access"][user_id],
        "display_name": vehicle["display_name"],
        "option_codes": None,
        "granular_access": {"hide_private": False},
        "tokens": [],
        "state": vehicle["state"],
        "in_service": False,
        "id_s": str(vehicle["id"]),
        "calendar_enabled": True,
        "api_version": 71,
        "backseat_token": None,
        "backseat_token_updated_at": None,
    }


def _partner(data: Data, client_id: str) -> dict[str, Any] | None:
    return data["partners"][g.region].get(client_id)


def key_paired(data: Data, vehicle: dict[str, Any], client_id: str) -> bool:
    partner = data["partners"][vehicle["region"]].get(client_id)
    return bool(partner) and vehicle["paired_keys"].get(partner["domain"]) == partner["public_key"]


# -- users -----------------------------------------------------------------------------------


@bp.get("/api/1/users/region")
def users_region() -> ResponseReturnValue:
    # Scope UNKNOWN today (2023: user_data, §1.5): required here (stricter).
    with world().read() as data:
        caller = authenticate(data, kind="user", scopes=("user_data",))
    region = caller.user["region"]  # type: ignore[index]
    return envelope({"region": region.lower(), "fleet_api_base_url": fleet_base(region)})


@bp.get("/api/1/users/me")
def users_me() -> ResponseReturnValue:
    with world().read() as data:
        caller = authenticate(data, kind="user", scopes=("user_data",))
    user = caller.user or {}
    return envelope(
        {
            "email": user["email"],
            "full_name": user["full_name"],
            "profile_image_url": None,
            "vault_uuid": user["id"],
        }
    )


# -- vehicles --------------------------------------------------------------------------------


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise Denied(fleet_error(400, "invalid_field", f"{name} must be a positive integer"))
    return int(raw)


@bp.get("/api/1/vehicles")
def vehicles_list() -> ResponseReturnValue:
    w = world()
    with w.transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        uid = caller.user["id"]  # type: ignore[index]
        page = _int_arg("page", 1)
        # "paginated with a default page size of 100" (§4.2); larger pages refused.
        per_page = min(_int_arg("per_page", 100), 100)
        mine = [v for v in data["vehicles"].values() if uid in v["access"]]
        for vehicle in mine:
            tick(data, vehicle, w.now())
        items = [vehicle_json(v, uid) for v in mine[(page - 1) * per_page : page * per_page]]
        as_text = data["settings"].get("pagination_next") == "string"  # older saved worlds: number
    count = len(mine)
    pages = max(1, math.ceil(count / per_page))
    next_page = page + 1 if page < pages else None
    pagination = {
        "previous": page - 1 if page > 1 else None,
        "next": str(next_page) if as_text and next_page is not None else next_page,
        "current": page,
        "per_page": per_page,
        "count": count,
        "pages": pages,
    }
    return envelope(items, count=count, pagination=pagination)


@bp.get("/api/1/products")
def products() -> ResponseReturnValue:
    """The caller's vehicles (and energy sites: the sandbox has none), each vehicle with
    `command_signing` (§4.2): `required` where fleet_status says the vehicle command protocol
    is required, `off` for legacy hardware (REST commands). No pagination (§4.2 names none)."""
    w = world()
    with w.transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        uid = caller.user["id"]  # type: ignore[index]
        items = []
        for vehicle in data["vehicles"].values():
            if uid not in vehicle["access"]:
                continue
            tick(data, vehicle, w.now())
            signing = "off" if vehicle["legacy_hardware"] else "required"
            items.append({**vehicle_json(vehicle, uid), "command_signing": signing})
    return envelope(items, count=len(items))


@bp.get("/api/1/vehicles/<tag>")
def vehicle_get(tag: str) -> ResponseReturnValue:
    with world().transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        vehicle = user_vehicle(data, caller, tag)
        return envelope(vehicle_json(vehicle, caller.user["id"]))  # type: ignore[index]


def _unavailable() -> ResponseReturnValue:
    status = world().data["settings"]["offline_status"]
    return fleet_error(status, "vehicle unavailable: vehicle is offline or asleep")


@bp.get("/api/1/vehicles/<tag>/vehicle_data")
def vehicle_data(tag: str) -> ResponseReturnValue:
    with world().transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        vehicle = user_vehicle(data, caller, tag)
        if vehicle["state"] != "online":
            return _unavailable()
        uid = caller.user["id"]  # type: ignore[index]
        # A stable numeric user id derived from the user's uuid (Tesla's are integers).
        body = {**vehicle_json(vehicle, uid), "user_id": uuid.UUID(uid).int % 10**12}
    # Location only with location_data and the vehicle_location scope (§4.2, §2.6).
    names, location = vehicle_data_objects(request.args.get("endpoints", ""))
    location = location and "vehicle_location" in caller.claims["scp"]
    body |= build_vehicle_data(vehicle, names, location=location, now=world().now())
    return envelope(body)


@bp.post("/api/1/vehicles/<tag>/wake_up")
def wake_up(tag: str) -> ResponseReturnValue:
    """Returns the car immediately with its current state; clients poll (§4.2)."""
    w = world()
    with w.transaction() as data:
        # "vehicle_cmds: ... wake up" (§2.6) - stricter than the 2023 vehicle_device_data.
        caller = authenticate(data, kind="user", scopes=("vehicle_cmds",))
        vehicle = user_vehicle(data, caller, tag)
        if vehicle["state"] == "asleep" and vehicle["wake_at"] is None:
            vehicle["wake_at"] = w.now() + data["settings"]["wake_delay"]
            tick(data, vehicle, w.now())
        return envelope(vehicle_json(vehicle, caller.user["id"]))  # type: ignore[index]


@bp.post("/api/1/vehicles/fleet_status")
def fleet_status() -> ResponseReturnValue:
    with world().transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        vins = _vins(_json_body())
        vehicles = [_vin_vehicle(data, caller, vin, owner_only=False) for vin in vins]
        paired = [v["vin"] for v in vehicles if key_paired(data, v, caller.client_id)]
        info = {v["vin"]: _vehicle_info(v, single=len(vins) == 1) for v in vehicles}
        return envelope(
            {
                "key_paired_vins": paired,
                "unpaired_vins": [v["vin"] for v in vehicles if v["vin"] not in paired],
                "vehicle_info": info,
            }
        )


def _vehicle_info(vehicle: dict[str, Any], *, single: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "firmware_version": vehicle["firmware"],
        "vehicle_command_protocol_required": not vehicle["legacy_hardware"],
        # The client version the firmware runs; null where the car cannot stream (§3.5).
        "fleet_telemetry_version": firmware.client_version(vehicle),
        "total_number_of_keys": 2 + len(vehicle["paired_keys"]),
    }
    if (
        vehicle["legacy_hardware"]
        and firmware.parse(vehicle["firmware"]) >= firmware.ATOM_STREAMING_FIRMWARE
    ):
        # Intel Atom S/X from 2025.20: the Safety screen's streaming toggle (§3.4).
        info["safety_screen_streaming_toggle_enabled"] = bool(
            vehicle.get("safety_screen_streaming")
        )
    if single:
        info["discounted_device_data"] = False  # only on single-VIN calls (§3.5)
    return info


def _vin_vehicle(data: Data, caller: Caller, vin: str, *, owner_only: bool) -> dict[str, Any]:
    vehicle = data["vehicles"].get(vin)
    uid = caller.user["id"] if caller.user else None
    access = vehicle["access"].get(uid) if vehicle and vehicle["region"] == g.region else None
    # DRIVER accounts get `<VIN> not_found` on telemetry create (§4.2 notes).
    if access is None or (owner_only and access != "OWNER"):
        raise Denied(fleet_error(404, f"{vin} not_found"))
    tick(data, vehicle, world().now())  # type: ignore[arg-type]
    return vehicle  # type: ignore[return-value]


# -- telemetry -------------------------------------------------------------------------------


@bp.post("/api/1/vehicles/fleet_telemetry_config")
def telemetry_config_direct() -> ResponseReturnValue:
    # Only legacy CSR apps may call this directly; the sandbox has none (§5.2).
    with world().read() as data:
        authenticate(data, kind="user", scopes=("vehicle_device_data",))
    site = developer_site(g.region)
    return fleet_error(
        412,
        f"Refer to {site}/docs/fleet-api/fleet-telemetry for instructions setting up "
        "fleet-telemetry.",
    )


def _root_host(host: str) -> str:
    host = host.split(":")[0]
    if _is_ip(host) or "." not in host:
        return host
    return ".".join(host.split(".")[-2:])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_config(config: dict[str, Any], caller: Caller, partner: dict[str, Any]) -> None:
    """The schema checks of §5.3; 400 invalid_field on the first problem."""
    problems = []
    if not isinstance(config.get("hostname"), str) or not config["hostname"]:
        problems.append("hostname is required")
    elif _root_host(config["hostname"]) != _root_host(partner["domain"]):
        problems.append("hostname must match the root domain of the registered application")
    port = config.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        problems.append("port must be an integer")  # a string port broke streaming (5.3)
    if not isinstance(config.get("ca"), str) or "BEGIN CERTIFICATE" not in config["ca"]:
        problems.append("ca must be a PEM certificate chain")
    fields = config.get("fields")
    if not isinstance(fields, dict) or not fields:
        problems.append("fields must be a non-empty object")
    else:
        for name, spec in fields.items():
            interval = spec.get("interval_seconds") if isinstance(spec, dict) else None
            if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
                problems.append(f"fields.{name}.interval_seconds must be a positive integer")
    exp = config.get("exp")
    if exp is not None and (not isinstance(exp, int) or exp <= world().now()):
        problems.append("exp must be a future unix timestamp")
    if problems:
        raise Denied(fleet_error(400, "invalid_field", "; ".join(problems)))
    if LOCATION_FIELDS & set(fields) and "vehicle_location" not in caller.claims["scp"]:  # type: ignore[arg-type]
        raise Denied(fleet_error(403, "Unauthorized missing scopes"))


@bp.post("/api/1/vehicles/fleet_telemetry_config_jws")
def telemetry_config_jws() -> ResponseReturnValue:
    w = world()
    # The signature check is pure Python and slow: run it before taking the world's lock.
    # Its outcome is only used after authentication, so errors keep Tesla's order (401
    # before any body or JWS error).
    checked = _checked_jws(_peek_token())
    with w.transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        body = _json_body()
        vins = _vins(body)
        token = body.get("token")
        if not isinstance(token, str):
            raise Denied(fleet_error(400, "invalid_field", "token must be a JWS string"))
        if checked is None or checked[0] != token:
            checked = _checked_jws(token)  # defensive: Flask parsed this very body above
        config = _verified_claims(checked)
        if config.get("aud") != TELEMETRY_AUDIENCE:
            raise Denied(fleet_error(400, "invalid_jws", f"aud must be {TELEMETRY_AUDIENCE}"))
        partner = _partner(data, caller.client_id)
        _check_config(config, caller, partner)  # type: ignore[arg-type]
        vehicles = [_vin_vehicle(data, caller, vin, owner_only=True) for vin in vins]
        skipped: dict[str, list[str]] = {
            "missing_key": [],
            "unsupported_hardware": [],
            "unsupported_firmware": [],
            "max_configs": [],
        }
        updated = 0
        for vehicle in vehicles:
            reason = _skip_reason(data, vehicle, caller.client_id)
            if reason:
                skipped[reason].append(vehicle["vin"])
                continue
            vehicle["telemetry"][caller.client_id] = {
                "config": config,
                "synced": False,
                "rejected": False,
                "created_at": w.now(),
                "pickup_at": w.now() + data["settings"]["telemetry_sync_delay"],
            }
            updated += 1
        return envelope({"updated_vehicles": updated, "skipped_vehicles": skipped})


# A push sends one token for every car (and benches repeat pushes): remember tokens
# whose signature verified. Claims are copied out, so a caller cannot alter the cache.
_JWS_CACHE_SIZE = 64


def _peek_token() -> str | None:
    """The body's token if there is one, without raising: errors come later, in order."""
    if request.mimetype != "application/json":
        return None
    body = request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    return token if isinstance(token, str) else None


def _checked_jws(token: str | None) -> tuple[str, dict[str, Any] | Exception] | None:
    """(token, claims) or (token, the verification error); None without a token."""
    if token is None:
        return None
    try:
        return token, _verify_cached(token)
    except (InvalidToken, ValueError) as exc:
        return token, exc


def _verified_claims(checked: tuple[str, dict[str, Any] | Exception]) -> dict[str, Any]:
    outcome = checked[1]
    if isinstance(outcome, Exception):
        # Sandbox choice: an unverifiable JWS is a 400 (§5.4 leaves it UNKNOWN).
        raise Denied(
            fleet_error(400, "invalid_jws", f"invalid Tesla.SS256 JWS: {outcome}")
        ) from outcome
    return copy.deepcopy(outcome)


@functools.lru_cache(maxsize=_JWS_CACHE_SIZE)
def _verify_cached(token: str) -> dict[str, Any]:
    """Only successes are cached (lru_cache does not keep exceptions): a tampered token
    is a different string and is verified, and rejected, every time."""
    return verify(token)


def _other_configs(vehicle: dict[str, Any], client_id: str) -> int:
    return sum(
        1 for cid, rec in vehicle["telemetry"].items() if cid != client_id and not rec["rejected"]
    )


def _skip_reason(data: Data, vehicle: dict[str, Any], client_id: str) -> str | None:
    if vehicle["legacy_hardware"]:
        # Intel Atom S/X stream from 2025.20 through the Safety screen toggle, with no
        # virtual key; the reason Tesla gives while the toggle is off is UNKNOWN: the
        # sandbox says missing_key (the owner has not allowed the app on the car).
        if firmware.parse(vehicle["firmware"]) < firmware.ATOM_STREAMING_FIRMWARE:
            return "unsupported_hardware"
        if not vehicle.get("safety_screen_streaming"):
            return "missing_key"
    elif firmware.parse(vehicle["firmware"]) < firmware.JWS_FIRMWARE:
        return "unsupported_firmware"
    elif not key_paired(data, vehicle, client_id):
        return "missing_key"
    if _other_configs(vehicle, client_id) >= data["settings"]["max_configs"]:
        return "max_configs"
    return None


@bp.get("/api/1/vehicles/<tag>/fleet_telemetry_config")
def telemetry_config_get(tag: str) -> ResponseReturnValue:
    with world().transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        vehicle = user_vehicle(data, caller, tag)
        record = vehicle["telemetry"].get(caller.client_id)
        shown = record["config"] if record and not record["rejected"] else None
        return envelope(
            {
                # No config ever pushed: synced false (sandbox choice, see README).
                "synced": bool(record and record["synced"]),
                "config": shown,
                "limit_reached": _other_configs(vehicle, caller.client_id)
                >= data["settings"]["max_configs"],
                "key_paired": key_paired(data, vehicle, caller.client_id),
            }
        )


@bp.delete("/api/1/vehicles/<tag>/fleet_telemetry_config")
def telemetry_config_delete(tag: str) -> ResponseReturnValue:
    with world().transaction() as data:
        caller = authenticate(data, kind="any", scopes=())
        if caller.partner:
            # A partner token removes the config from any vehicle (§5.4).
            vehicle = _find_vehicle(data, tag)
            if vehicle is None or vehicle["region"] != g.region:
                raise Denied(fleet_error(404, "not_found"))
        else:
            if "vehicle_device_data" not in caller.claims.get("scp", []):
                raise Denied(fleet_error(403, "Unauthorized missing scopes"))
            vehicle = user_vehicle(data, caller, tag)
        removed = vehicle["telemetry"].pop(caller.client_id, None)
        return envelope({"updated_vehicles": 1 if removed else 0})


@bp.get("/api/1/vehicles/<tag>/fleet_telemetry_errors")
def telemetry_errors(tag: str) -> ResponseReturnValue:
    with world().transaction() as data:
        caller = authenticate(data, kind="user", scopes=("vehicle_device_data",))
        vehicle = user_vehicle(data, caller, tag)
        errors = [e for e in vehicle["telemetry_errors"] if e["name"] == caller.client_id]
        return envelope({"fleet_telemetry_errors": errors})


# -- partner endpoints -----------------------------------------------------------------------


@bp.post("/api/1/partner_accounts")
def partner_register() -> ResponseReturnValue:
    w = world()
    with w.read() as data:
        caller = authenticate(data, kind="partner", need_registration=False)
        client = data["clients"][caller.client_id]
        domain = _json_body().get("domain")
        problem = _domain_problem(domain, client["allowed_origins"])
    if problem:
        return fleet_error(422, "invalid_resource", problem, messages={"domain": [problem]})
    # Fetched outside the lock: the key host may be slow, and may even be a caller of ours.
    public_key, problem = fetch_public_key(domain)  # type: ignore[arg-type]
    if problem:
        return fleet_error(422, "invalid_resource", problem, messages={"domain": [problem]})
    with w.transaction() as data:
        now = w.iso_now()
        existing = data["partners"][g.region].get(caller.client_id)
        record = {
            "client_id": caller.client_id,
            "name": client["name"],
            "description": "",
            "domain": domain,
            "ca": None,
            "created_at": existing["created_at"] if existing else now,
            "updated_at": now,
            "enterprise_tier": "free",
            "public_key": public_key,
        }
        data["partners"][g.region][caller.client_id] = record
    return envelope(record)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _domain_problem(domain: Any, allowed_origins: list[str]) -> str | None:
    """§3.2: a lowercase bare host with the root of one of the allowed origins."""
    if not isinstance(domain, str) or not domain:
        return "domain is required"
    host, _, port = domain.partition(":")
    if domain != domain.lower() or not _HOST_RE.fullmatch(host):
        return "domain must be a lowercase host name without scheme or path"
    if port and not (_is_loopback(host) and port.isdigit()):
        # Sandbox-only allowance: a port is accepted for loopback hosts (README).
        return "domain must not contain a port"
    roots = {_root_host(_origin_host(o)) for o in allowed_origins}
    if _root_host(host) not in roots:
        return "domain must have the same root as one of the application's allowed origins"
    return None


def _origin_host(origin: str) -> str:
    if "://" in origin:
        return (urlsplit(origin).hostname or "").lower()
    return origin.split(":")[0].lower()


def fetch_public_key(domain: str) -> tuple[str | None, str | None]:
    host = domain.partition(":")[0]
    # Real Tesla fetches over https only; loopback hosts use http (sandbox-only, README),
    # unless --key-fetch-https: a rehearsal's key comes through its TLS proxy, as Tesla's does.
    https_only = current_app.config.get("SANDBOX_KEY_FETCH_HTTPS", False)
    scheme = "http" if _is_loopback(host) and not https_only else "https"
    url = f"{scheme}://{domain}{PUBLIC_KEY_PATH}"
    try:
        # No redirects: the key "must be hosted directly" (§3.1).
        resp = requests.get(url, timeout=KEY_FETCH_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return None, f"could not fetch the public key from {url}: {type(exc).__name__}"
    if resp.status_code != 200:
        return None, f"could not fetch the public key from {url}: HTTP {resp.status_code}"
    return _parse_public_key(resp.content, url)


def _parse_public_key(pem: bytes, url: str) -> tuple[str | None, str | None]:
    wrong = (
        f"the key at {url} must be a PEM-encoded EC prime256v1 (NIST P-256) public key "
        "(-----BEGIN PUBLIC KEY-----)"
    )
    if b"-----BEGIN PUBLIC KEY-----" not in pem:
        return None, wrong
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None, wrong
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None, wrong
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point.hex(), None


@bp.get("/api/1/partner_accounts/public_key")
def partner_public_key() -> ResponseReturnValue:
    with world().read() as data:
        authenticate(data, kind="partner")
        domain = request.args.get("domain", "")
        if not domain:
            raise Denied(fleet_error(400, "invalid_field", "domain is required"))
        for record in data["partners"][g.region].values():
            if record["domain"] == domain:
                return envelope({"public_key": record["public_key"]})
    return fleet_error(404, "not_found")


@bp.get("/api/1/partner_accounts/fleet_telemetry_errors")
def partner_telemetry_errors() -> ResponseReturnValue:
    # Response shape UNKNOWN (§3.3): the per-vehicle element type, all vehicles.
    with world().read() as data:
        caller = authenticate(data, kind="partner")
        errors = [
            e
            for v in data["vehicles"].values()
            if v["region"] == g.region
            for e in v["telemetry_errors"]
            if e["name"] == caller.client_id
        ]
    return envelope({"fleet_telemetry_errors": errors})


@bp.get("/api/1/partner_accounts/fleet_telemetry_error_vins")
def partner_telemetry_error_vins() -> ResponseReturnValue:
    # Response shape UNKNOWN (§3.3): the VINs of this region's vehicles that reported an
    # error for the caller's config, sorted, under a key named like its sibling endpoint's.
    with world().read() as data:
        caller = authenticate(data, kind="partner")
        vins = sorted(
            v["vin"]
            for v in data["vehicles"].values()
            if v["region"] == g.region
            and any(e["name"] == caller.client_id for e in v["telemetry_errors"])
        )
    return envelope({"fleet_telemetry_error_vins": vins})
