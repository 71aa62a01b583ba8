"""A thin Fleet API client: one method per endpoint, the envelope unwrapped, typed errors.

Tesla docs: https://developer.tesla.com/docs/fleet-api (§4). The bearer token
only ever goes to a URL under a base URL in `allowed_base_urls`; a 421 "wrong region" may
move the client to another allowlisted base URL once, never anywhere else (§4.3).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from .errors import TeslaError, TransientError
from .http import make_session, parse_retry_after
from .regions import normalise_base_url

__all__ = [
    "AccountDisabled",
    "BaseURLNotAllowed",
    "DeviceError",
    "FleetClient",
    "FleetError",
    "FleetObserver",
    "FleetStatus",
    "MissingScopes",
    "NotFound",
    "NotRegisteredInRegion",
    "PartnerPublicKey",
    "RateLimited",
    "ServerError",
    "TelemetryConfigState",
    "TelemetryError",
    "TransportError",
    "Unauthorized",
    "UserRegion",
    "VehiclePage",
    "VehicleInfo",
    "VehicleUnavailable",
    "WrongRegion",
    "error_for_response",
    "printable_text",
    "vehicle_pages",
]

logger = logging.getLogger(__name__)

JSONObject = dict[str, Any]

# Stop following pagination after this many pages: a guard against a server that loops.
MAX_PAGES = 1000


# --- errors ------------------------------------------------------------------------------


class FleetError(TeslaError):
    """A Fleet API call failed; `transient` says whether retrying later may help."""


class Unauthorized(FleetError):
    """401: token expired or revoked, unknown user, mobile access disabled (§4.3)."""


class MissingScopes(FleetError):
    """403: "Unauthorized missing scopes", location not granted, account disabled (§4.3)."""


class AccountDisabled(FleetError):
    """403 `account disabled: EXCEEDED_LIMIT`: Tesla stopped the application for billing
    (§4.5). Permanent: every call fails until the account's billing is sorted out."""


class NotFound(FleetError):
    """404: no such vehicle for this user."""


class VehicleUnavailable(FleetError, TransientError):
    """The car is offline or asleep: 408, or 500/503 with that text (§4.4)."""


class NotRegisteredInRegion(FleetError):
    """412: the partner account is not registered in this region -- fix config, never retry."""


class WrongRegion(FleetError):
    """421 that could not be followed: second 421, or a base URL outside the allowlist."""

    def __init__(self, message: str, *, suggested_base_url: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.suggested_base_url = suggested_base_url


class RateLimited(FleetError, TransientError):
    """429: wait `retry_after` seconds (§4.5); `ratelimit` holds the RateLimit-* headers."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        ratelimit: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.ratelimit: dict[str, str] = dict(ratelimit or {})
        self.ratelimit_limit = self._header_int("limit")
        self.ratelimit_remaining = self._header_int("remaining")
        self.ratelimit_reset = self._header_int("reset")

    def _header_int(self, suffix: str) -> int | None:
        # Tesla's FAQ names `RateLimit-*-Limit` etc.; observed headers are `ratelimit-limit`
        # (§4.5). Prefer the plain name, else the first `ratelimit-<x>-<suffix>`.
        names = [f"ratelimit-{suffix}"] + sorted(
            name for name in self.ratelimit if name.endswith(f"-{suffix}")
        )
        for name in names:
            try:
                return int(self.ratelimit[name])
            except (KeyError, ValueError):
                continue
        return None


class ServerError(FleetError, TransientError):
    """5xx other than "vehicle unavailable" and 540: Tesla-side trouble."""


class DeviceError(FleetError):
    """540: the vehicle answered with an error; may need a reboot, OTA update or service.

    Permanent for the call: retrying soon hits the same car in the same state.
    """


class TransportError(FleetError, TransientError):
    """Timeout, connection failure, or a body that is not Tesla's JSON envelope."""


class BaseURLNotAllowed(FleetError):
    """Refused before sending: the URL is not under an allowlisted base URL."""


# --- typed results -----------------------------------------------------------------------


@dataclass(frozen=True)
class UserRegion:
    region: str
    fleet_api_base_url: str


@dataclass(frozen=True)
class VehiclePage:
    vehicles: list[JSONObject]
    count: int | None
    pagination: JSONObject | None


# Tesla's answers below are parsed, not trusted: a value of another type than documented
# reads as "not sent" (None, empty), so one odd answer never fails a caller.


@dataclass(frozen=True)
class VehicleInfo:
    """One car's entry in fleet_status `vehicle_info`; a field not sent (or not of its
    documented type) is None. Texts are Tesla's, not yet cleaned for storage."""

    firmware_version: str | None = None
    # None: the car cannot run the telemetry client (§3.5).
    fleet_telemetry_version: str | None = None
    total_number_of_keys: int | None = None
    vehicle_command_protocol_required: bool | None = None
    safety_screen_streaming_toggle_enabled: bool | None = None
    discounted_device_data: bool | None = None
    # Only single-VIN calls carry discounted_device_data (§3.5).
    has_discounted_device_data: bool = False

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> VehicleInfo:
        return cls(
            firmware_version=_text_or_none(value.get("firmware_version")),
            fleet_telemetry_version=_text_or_none(value.get("fleet_telemetry_version")),
            total_number_of_keys=_strict_int(value.get("total_number_of_keys")),
            vehicle_command_protocol_required=_bool_or_none(
                value.get("vehicle_command_protocol_required")
            ),
            safety_screen_streaming_toggle_enabled=_bool_or_none(
                value.get("safety_screen_streaming_toggle_enabled")
            ),
            discounted_device_data=_bool_or_none(value.get("discounted_device_data")),
            has_discounted_device_data="discounted_device_data" in value,
        )


@dataclass(frozen=True)
class FleetStatus:
    """fleet_status: key pairing and vehicle info per VIN; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-status"""

    # None when Tesla sent no usable list: then only an explicit "unpaired" is known.
    key_paired_vins: frozenset[str] | None = None
    unpaired_vins: frozenset[str] = frozenset()
    vehicle_info: Mapping[str, VehicleInfo] = field(default_factory=dict)
    # VINs whose vehicle_info entry is neither an object nor null.
    unreadable_vins: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, body: Any) -> FleetStatus:
        body = body if isinstance(body, dict) else {}
        infos = body.get("vehicle_info")
        infos = infos if isinstance(infos, dict) else {}
        return cls(
            key_paired_vins=_vin_set(body.get("key_paired_vins")),
            unpaired_vins=_vin_set(body.get("unpaired_vins")) or frozenset(),
            vehicle_info={
                str(vin): VehicleInfo.from_json(info or {})
                for vin, info in infos.items()
                if info is None or isinstance(info, dict)
            },
            unreadable_vins=frozenset(
                str(vin)
                for vin, info in infos.items()
                if not (info is None or isinstance(info, dict))
            ),
        )

    def mentions(self, vin: str) -> bool:
        """Whether the answer says anything about this VIN."""
        return (
            vin in self.vehicle_info
            or vin in self.unreadable_vins
            or vin in self.unpaired_vins
            or vin in (self.key_paired_vins or ())
        )

    def key_paired(self, vin: str) -> bool | None:
        """Whether the portal's key is paired on the car; None when the answer does not say."""
        if self.key_paired_vins is not None:
            return vin in self.key_paired_vins
        return False if vin in self.unpaired_vins else None


@dataclass(frozen=True)
class TelemetryConfigState:
    """GET fleet_telemetry_config: the config the car holds and whether it adopted the last
    push; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-telemetry-config-get"""

    # True only for Tesla's literal `true`.
    synced: bool = False
    # Tesla's `config` was sent and not null (it may still not be an object).
    holds_config: bool = False
    # The config the car holds, when it is an object (aud and iss included).
    config: JSONObject | None = None
    limit_reached: bool = False
    key_paired: bool | None = None

    @classmethod
    def from_json(cls, body: Any) -> TelemetryConfigState:
        body = body if isinstance(body, dict) else {}
        config = body.get("config")
        return cls(
            synced=body.get("synced") is True,
            holds_config=config is not None,
            config=config if isinstance(config, dict) else None,
            limit_reached=bool(body.get("limit_reached")),
            key_paired=_bool_or_none(body.get("key_paired")),
        )


@dataclass(frozen=True)
class TelemetryError:
    """One error a car reported about its telemetry config (vehicle or partner list);
    https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-telemetry-errors"""

    vin: str = ""
    created_at: str = ""
    error: str = ""
    error_name: str = ""
    # The client id of the app whose config the car refused.
    name: str = ""

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> TelemetryError:
        return cls(
            vin=str(value.get("vin", "")),
            created_at=str(value.get("created_at", "")),
            error=str(value.get("error", "")),
            error_name=str(value.get("error_name", "")),
            name=str(value.get("name", "")),
        )

    @classmethod
    def list_from_json(cls, body: Any) -> list[TelemetryError]:
        """A list, or an object holding one under `fleet_telemetry_errors` (the partner
        endpoint's shape is not documented, §3.3); entries that are not objects go."""
        if isinstance(body, dict):
            body = body.get("fleet_telemetry_errors") or []
        if not isinstance(body, list):
            return []
        return [cls.from_json(item) for item in body if isinstance(item, dict)]


@dataclass(frozen=True)
class PartnerPublicKey:
    """The public key Tesla holds for a domain, lower-case hex, "" when it sent none;
    https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints#public-key"""

    public_key: str = ""

    @classmethod
    def from_json(cls, body: Any) -> PartnerPublicKey:
        held = body.get("public_key") if isinstance(body, dict) else None
        return cls(public_key=str(held or "").lower())


# --- client ------------------------------------------------------------------------------


class FleetObserver:
    """Watches every request a `FleetClient` sends (usage counting, a stop switch).

    The default does nothing. `before_request` may raise a `FleetError` to refuse the call
    before anything is sent; `on_response` hears every answer (a 421 and its retry are two
    answers); `on_account_disabled` hears a 403 EXCEEDED_LIMIT (§4.5). Called on the caller's
    thread: keep them cheap, and never let them do I/O that could block the call.
    """

    def before_request(self, method: str, path: str, base_url: str) -> None:
        return None

    def on_response(self, method: str, path: str, status: int, base_url: str) -> None:
        return None

    def on_account_disabled(self, base_url: str, error: AccountDisabled) -> None:
        return None


_NO_OBSERVER = FleetObserver()


class FleetClient:
    """Fleet API calls for one bearer token (a user's third-party token or a partner token)."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        allowed_base_urls: frozenset[str],
        session: requests.Session | None = None,
        observer: FleetObserver | None = None,
    ) -> None:
        self._observer = observer or _NO_OBSERVER
        self._allowed = frozenset(normalise_base_url(url) for url in allowed_base_urls)
        self.base_url = normalise_base_url(base_url)
        if self.base_url not in self._allowed:
            raise BaseURLNotAllowed(f"Fleet API base URL {self.base_url} is not allowlisted")
        self._access_token = access_token
        # A session passed in is borrowed (kept alive by its owner for many clients); one made
        # here is this client's to close.
        self._owns_session = session is None
        self._session = session or make_session()

    def __repr__(self) -> str:
        return f"<FleetClient {self.base_url}>"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> FleetClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- users --

    def user_region(self) -> UserRegion:
        """The user's region and Fleet API base URL; https://developer.tesla.com/docs/fleet-api/endpoints/user-endpoints#region"""
        body = self._call("GET", "/api/1/users/region")
        return UserRegion(
            region=str(body.get("region", "")),
            fleet_api_base_url=normalise_base_url(str(body.get("fleet_api_base_url", ""))),
        )

    def me(self) -> JSONObject:
        """The user's account summary; https://developer.tesla.com/docs/fleet-api/endpoints/user-endpoints#me"""
        return self._call("GET", "/api/1/users/me")

    # -- vehicles --

    def vehicles(self, per_page: int = 100) -> list[JSONObject]:
        """Every vehicle on the account, all pages; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#list"""
        vehicles: list[JSONObject] = []
        for result in vehicle_pages(self.vehicles_page, per_page=per_page):
            vehicles.extend(result.vehicles)
        return vehicles

    def vehicles_page(self, page: int, per_page: int) -> VehiclePage:
        """One page of the vehicle list; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#list"""
        envelope = self._envelope("GET", "/api/1/vehicles", {"page": page, "per_page": per_page})
        vehicles = envelope["response"] or []
        if not isinstance(vehicles, list):
            raise TransportError("vehicle list response is not a list")
        pagination = envelope.get("pagination")
        return VehiclePage(
            vehicles=vehicles,
            count=_int_or_none(envelope.get("count")),
            pagination=pagination if isinstance(pagination, dict) else None,
        )

    def vehicle(self, tag: str | int) -> JSONObject:
        """One vehicle by id or VIN; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#vehicle"""
        return self._call("GET", f"/api/1/vehicles/{_tag(tag)}")

    def vehicle_data(self, tag: str | int, endpoints: Iterable[str] | None = None) -> JSONObject:
        """Live data from the car (billed); https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#vehicle-data"""
        params = None
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if endpoints:
            # ";"-joined and sent percent-encoded (%3B): Go servers drop query keys that
            # contain a raw ";" since Go 1.17, and %3B decodes to the same value.
            params = {"endpoints": ";".join(endpoints)}
        return self._call("GET", f"/api/1/vehicles/{_tag(tag)}/vehicle_data", params)

    def wake_up(self, tag: str | int) -> JSONObject:
        """Ask the car to wake (billed as a wake); https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#wake-up"""
        return self._call("POST", f"/api/1/vehicles/{_tag(tag)}/wake_up")

    def fleet_status(self, vins: Iterable[str]) -> FleetStatus:
        """Key pairing, firmware and telemetry version per VIN; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-status"""
        body = self._call("POST", "/api/1/vehicles/fleet_status", body={"vins": list(vins)})
        return FleetStatus.from_json(body)

    def fleet_telemetry_config_jws(self, vins: Iterable[str], token: str) -> JSONObject:
        """Push a Tesla.SS256-signed telemetry config; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-telemetry-config-jws"""
        body = {"vins": list(vins), "token": token}
        return self._call("POST", "/api/1/vehicles/fleet_telemetry_config_jws", body=body)

    def fleet_telemetry_config(self, tag: str | int) -> TelemetryConfigState:
        """The car's telemetry config and sync state; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-telemetry-config-get"""
        body = self._call("GET", f"/api/1/vehicles/{_tag(tag)}/fleet_telemetry_config")
        return TelemetryConfigState.from_json(body)

    def fleet_telemetry_config_delete(self, tag: str | int) -> JSONObject:
        """Remove the car's telemetry config; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-telemetry-config-delete"""
        return self._call("DELETE", f"/api/1/vehicles/{_tag(tag)}/fleet_telemetry_config")

    def fleet_telemetry_errors(self, tag: str | int) -> list[TelemetryError]:
        """Errors the car reported about its config; https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#fleet-telemetry-errors"""
        body = self._call("GET", f"/api/1/vehicles/{_tag(tag)}/fleet_telemetry_errors")
        return TelemetryError.list_from_json(body)

    # -- partner (partner token) --

    def partner_register(self, domain: str) -> JSONObject:
        """Register the app's domain and key in this region; https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints#register"""
        # Lower-case host without scheme (§3.2); once per region served.
        return self._call("POST", "/api/1/partner_accounts", body={"domain": domain.lower()})

    def partner_public_key(self, domain: str) -> PartnerPublicKey:
        """The public key Tesla holds for the domain; https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints#public-key"""
        params = {"domain": domain.lower()}
        body = self._call("GET", "/api/1/partner_accounts/public_key", params)
        return PartnerPublicKey.from_json(body)

    def partner_fleet_telemetry_errors(self, domain: str | None = None) -> list[TelemetryError]:
        """Recent telemetry errors across the fleet; https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints#fleet-telemetry-errors"""
        # Response shape and whether `domain` is required are UNKNOWN (§3.3, §8.8): a
        # list, or an object holding one, are both read.
        params = {"domain": domain.lower()} if domain else None
        body = self._call("GET", "/api/1/partner_accounts/fleet_telemetry_errors", params)
        return TelemetryError.list_from_json(body)

    # -- health --

    def status(self) -> str:
        """API health, plain "ok", needs no token; https://developer.tesla.com/docs/fleet-api"""
        response = self._send("GET", "/status", authenticated=False)
        if not 200 <= response.status_code < 300:
            raise error_for_response(response, "GET /status")
        return response.text.strip().strip('"')

    # -- plumbing --

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: JSONObject | None = None,
    ) -> Any:
        return self._envelope(method, path, params, body=body)["response"]

    def _envelope(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: JSONObject | None = None,
    ) -> JSONObject:
        """Send with 421 handling; return the whole `{"response": ...}` envelope."""
        response = self._request(method, path, params, body)
        envelope = _json_or_none(response)
        if not isinstance(envelope, dict) or "response" not in envelope:
            # Real responses always wrap the value in `response` (§4.1).
            raise TransportError(
                f"Fleet API {method} {path} -> {response.status_code}: not a JSON envelope",
                status=response.status_code,
                error="invalid_response",
            )
        return envelope

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: JSONObject | None,
    ) -> requests.Response:
        response = self._send(method, path, params=params, body=body)
        if response.status_code == 421:
            self.base_url = self._reroute_target(response, f"{method} {path}")
            # Exactly one retry, as Tesla's proxy does (§4.3); a second 421 is final.
            response = self._send(method, path, params=params, body=body)
            if response.status_code == 421:
                raise self._wrong_region(response, f"{method} {path}", "again after rerouting")
        if not 200 <= response.status_code < 300:
            error = error_for_response(response, f"{method} {path}", redact=self._access_token)
            if isinstance(error, AccountDisabled):
                self._observer.on_account_disabled(self.base_url, error)
            raise error
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: JSONObject | None = None,
        authenticated: bool = True,
    ) -> requests.Response:
        base = normalise_base_url(self.base_url)
        url = f"{base}{path}"
        # The one gate every request passes: the bearer token goes nowhere but an
        # allowlisted Fleet API (ARCHITECTURE "Rules that hold everywhere").
        self._check_destination(base, url)
        self._observer.before_request(method, path, base)
        headers = {"Content-Type": "application/json"}  # Tesla: 406 without it (§4.1)
        if authenticated:
            headers["Authorization"] = f"Bearer {self._access_token}"
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                # Never follow a redirect with the bearer token attached.
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise TransportError(f"Fleet API {method} {path}: timed out", error="timeout") from exc
        except requests.RequestException as exc:
            raise TransportError(
                f"Fleet API {method} {path}: {type(exc).__name__}", error="connection_error"
            ) from exc
        # Only answered requests are heard: one that never got an answer is not billed (§4.5).
        self._observer.on_response(method, path, response.status_code, base)
        return response

    def _check_destination(self, base: str, url: str) -> None:
        if base not in self._allowed or not (url == base or url.startswith(f"{base}/")):
            raise BaseURLNotAllowed(
                f"refusing to send the bearer token to {base}: not an allowlisted Fleet API"
            )

    def _reroute_target(self, response: requests.Response, what: str) -> str:
        for candidate in suggested_base_urls(response):
            if candidate in self._allowed and candidate != normalise_base_url(self.base_url):
                logger.info(
                    "Fleet API 421 on %s: rerouting %s -> %s", what, self.base_url, candidate
                )
                return candidate
        raise self._wrong_region(response, what, "and no allowlisted base URL was suggested")

    def _wrong_region(self, response: requests.Response, what: str, why: str) -> WrongRegion:
        suggestions = suggested_base_urls(response)
        error, description = _error_fields(response, redact=self._access_token)
        return WrongRegion(
            f"Fleet API {what} -> 421 {why}",
            suggested_base_url=suggestions[0] if suggestions else None,
            status=421,
            error=error,
            description=description,
        )


# --- response helpers --------------------------------------------------------------------

_USE_BASE_URL = re.compile(r"use base URL:\s*(https?://[^\s,;\"'<>]+)", re.IGNORECASE)
_ALT_SVC = re.compile(r"h2=\"?(https?://[^\s,;\"'<>]+)", re.IGNORECASE)
_UNAVAILABLE_TEXTS = ("offline or asleep", "vehicle is offline", "vehicle is not available")


def suggested_base_urls(response: requests.Response) -> list[str]:
    """Base URLs a 421 points at: the body's "use base URL: <url>", then Alt-Svc (§4.3)."""
    found: list[str] = []
    body_match = _USE_BASE_URL.search(response.text or "")
    # Tesla's proxy reads `Alt-Svc: h2=https://<host>` (non-standard form) on 421.
    header_match = _ALT_SVC.search(response.headers.get("Alt-Svc", ""))
    for match in (body_match, header_match):
        if match:
            url = normalise_base_url(match.group(1).rstrip("."))
            if url not in found:
                found.append(url)
    return found


def error_for_response(
    response: requests.Response, what: str, *, redact: str | None = None
) -> FleetError:
    """The typed error for a non-2xx (or unusable) Fleet API response (§4.3, §4.4)."""
    status = response.status_code
    error, description = _error_fields(response, redact=redact)
    message = f"Fleet API {what} -> {status} {error}".rstrip()
    if description:
        message += f": {description}"
    kwargs: dict[str, Any] = {"status": status, "error": error, "description": description}
    text = f"{error} {description}".lower()
    if status == 401:
        return Unauthorized(message, **kwargs)
    if status == 403 and "exceeded_limit" in text:
        return AccountDisabled(message, **kwargs)
    if status == 403:
        return MissingScopes(message, **kwargs)
    if status == 404:
        return NotFound(message, **kwargs)
    if status == 408:
        return VehicleUnavailable(message, **kwargs)
    if status == 412:
        return NotRegisteredInRegion(message, **kwargs)
    if status == 421:
        suggestions = suggested_base_urls(response)
        return WrongRegion(message, suggested_base_url=next(iter(suggestions), None), **kwargs)
    if status == 429:
        ratelimit = {
            name.lower(): value
            for name, value in response.headers.items()
            if name.lower().startswith("ratelimit-")
        }
        retry_after = parse_retry_after(response.headers.get("Retry-After"), body_text=text)
        return RateLimited(message, retry_after=retry_after, ratelimit=ratelimit, **kwargs)
    if status == 540:
        return DeviceError(message, **kwargs)
    if status in (500, 503) and any(marker in text for marker in _UNAVAILABLE_TEXTS):
        # Tesla reports a sleeping car as 408, 500 or 503 depending on the day (§4.4).
        return VehicleUnavailable(message, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    if 200 <= status < 300:
        return TransportError(message, **kwargs)
    return FleetError(message, **kwargs)


def _error_fields(response: requests.Response, *, redact: str | None) -> tuple[str, str]:
    body = _json_or_none(response)
    if isinstance(body, dict):
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or "")
    else:
        # Plain-text or empty bodies happen (401 without body, proxies); keep a short,
        # single-line excerpt of text, never an HTML page.
        raw = " ".join((response.text or "").split())
        error = "" if raw.startswith("<") else raw[:200]
        description = ""
    # Into messages that are logged and stored (a run's error): no NUL and the like.
    error, description = printable_text(error), printable_text(description)
    if redact:
        error = error.replace(redact, "[redacted]")
        description = description.replace(redact, "[redacted]")
    return error, description


# Characters Tesla's free text (error texts, a car's name) must lose before it is stored or
# logged: PostgreSQL refuses NUL in text, lone surrogates are not UTF-8 (json.loads accepts
# both), and other control characters only garble pages and logs.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable_text(text: str) -> str:
    """`text` without control characters or lone surrogates; whitespace ones become spaces."""
    return _UNPRINTABLE.sub(lambda m: " " if m.group().isspace() else "", text)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def vehicle_pages(
    fetch: Callable[[int, int], VehiclePage], *, per_page: int = 100
) -> Iterator[VehiclePage]:
    """Each page of the vehicle list in order, `fetch(page, per_page)` getting one (§4.2).

    For callers that work page by page, or fetch each page with a fresh client (a token may be
    refreshed between pages). The iteration ends normally only after the last page; a
    `pagination.next` that is neither null nor a later page number raises TransportError, so a
    list cut short is never taken for the whole list.
    """
    page, seen = 1, 0
    for _ in range(MAX_PAGES):
        result = fetch(page, per_page)
        seen += len(result.vehicles)
        yield result
        next_page = _next_page(result, page=page, per_page=per_page, seen=seen)
        if next_page is None:
            return
        page = next_page
    raise TransportError(f"vehicle list did not end after {MAX_PAGES} pages")


def _next_page(result: VehiclePage, *, page: int, per_page: int, seen: int) -> int | None:
    """The page to fetch after `page`, or None when the list is complete (§4.2)."""
    if result.pagination is not None and "next" in result.pagination:
        value = result.pagination["next"]
        if value is None:
            return None
        next_page = _page_number(value)
        if next_page is None or next_page <= page:
            # Not "no next page" either: stopping here would drop the later pages silently.
            raise TransportError(
                f"vehicle list page {page}: unusable pagination.next {str(value)[:40]!r}",
                error="invalid_pagination",
            )
        return next_page
    if not result.vehicles or len(result.vehicles) < per_page:
        return None
    # `count` is the total only when it exceeds this page; when it equals the page size it
    # is ambiguous, and one extra (free) list request settles it.
    if result.count is not None and result.count > len(result.vehicles) and seen >= result.count:
        return None
    return page + 1


def _page_number(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if _is_page_number(text):
        return int(text)
    # A link instead of a number: take its `page` query parameter.
    pages = parse_qs(urlsplit(text).query).get("page")
    return int(pages[0]) if pages and _is_page_number(pages[0]) else None


def _is_page_number(text: str) -> bool:
    # ASCII only ("²".isdigit() is true, int("²") fails) and short (int() refuses huge strings).
    return text.isascii() and text.isdigit() and len(text) <= 9


def _vin_set(value: Any) -> frozenset[str] | None:
    """The strings of a VIN list from Tesla, or None when it is not a list."""
    if not isinstance(value, list):
        return None
    return frozenset(vin for vin in value if isinstance(vin, str))


def _text_or_none(value: Any) -> str | None:
    # A string or a number (never a bool) as text; anything else is "not sent".
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _strict_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool_or_none(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _tag(tag: str | int) -> str:
    # vehicle_tag is the numeric id or the VIN (§4.1); never let it add path segments.
    return quote(str(tag), safe="")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
