"""Tesla OAuth 2.0: authorize URL with PKCE, code exchange, refresh and partner tokens.

Tesla docs: https://developer.tesla.com/docs/fleet-api/authentication/third-party-tokens and
https://developer.tesla.com/docs/fleet-api/authentication/partner-tokens (§1-2).
Errors are `PermanentOAuthError` (re-authorize or fix configuration) or `TransientOAuthError`
(try again later); neither ever carries a token or secret in its message.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import requests

from . import jws
from .errors import TeslaError, TransientError
from .http import make_session, parse_retry_after
from .regions import AuthServer

__all__ = [
    "PARTNER_SCOPES",
    "OAuthError",
    "PermanentOAuthError",
    "TokenClaims",
    "TokenSet",
    "TransientOAuthError",
    "build_authorize_url",
    "classify_oauth_error",
    "decode_claims",
    "exchange_code",
    "partner_token",
    "pkce_pair",
    "refresh",
]

PARTNER_SCOPES: tuple[str, ...] = (
    "openid",
    "vehicle_device_data",
    "vehicle_cmds",
    "vehicle_charging_cmds",
)


class OAuthError(TeslaError):
    """The token endpoint refused or could not be reached; see `permanent`."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str = "",
        description: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, error=error, description=description)
        self.retry_after = retry_after


class PermanentOAuthError(OAuthError):
    """Retrying the same request cannot help: the user must re-authorize or config is wrong."""


class TransientOAuthError(OAuthError, TransientError):
    """Rate limit, Tesla outage, timeout or a garbled answer: retry later with backoff."""


@dataclass(frozen=True)
class TokenClaims:
    """Claims read from a Tesla access token (§2.7)."""

    sub: str | None
    scp: tuple[str, ...]
    ou_code: str | None
    aud: tuple[str, ...]
    exp: int | None
    iat: int | None
    azp: str | None
    iss: str | None


@dataclass(frozen=True)
class TokenSet:
    """A token endpoint answer. Tokens are excluded from repr so they never reach logs."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    id_token: str | None = field(repr=False)
    expires_in: int
    token_type: str
    scope: str | None
    claims: TokenClaims


# --- authorize ---------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE (verifier, S256 challenge) pair (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def build_authorize_url(
    server: AuthServer,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    code_challenge: str,
    prompt: str | None = "login",
    prompt_missing_scopes: bool = False,
    locale: str | None = None,
    nonce: str | None = None,
) -> str:
    """The URL that sends the user to Tesla's consent page (§1.2)."""
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        # Space-delimited; `openid` and `offline_access` are needed for a refresh token.
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": code_challenge,
        # Tesla's Fleet docs don't say whether the method is required (§1.2, §8.5);
        # sending it explicitly is correct PKCE and matches the legacy auth.tesla.com flow.
        "code_challenge_method": "S256",
        "prompt_missing_scopes": "true" if prompt_missing_scopes else "false",
    }
    if prompt:
        params["prompt"] = prompt
    if locale:
        params["locale"] = locale
    if nonce:
        params["nonce"] = nonce
    # quote (not quote_plus): spaces become %20 as in Tesla's own example URL.
    return f"{server.authorize_url}?{urlencode(params, quote_via=quote)}"


# --- token endpoint ----------------------------------------------------------------------


def exchange_code(
    server: AuthServer,
    *,
    client_id: str,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    audience: str,
    code_verifier: str,
    session: requests.Session | None = None,
) -> TokenSet:
    """Authorization code -> tokens; https://developer.tesla.com/docs/fleet-api/authentication/third-party-tokens"""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        # Tesla mints the access token for this Fleet API base URL (§2.1a).
        "audience": audience,
        # Must equal the authorize request's, else 400 invalid_redirect_url (§2.5).
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    if client_secret:  # open-source (PKCE-only) apps have no secret (§1.2)
        form["client_secret"] = client_secret
    return _token_request(server, form, session, secrets=(client_secret, code, code_verifier))


def refresh(
    server: AuthServer,
    *,
    client_id: str,
    refresh_token: str,
    session: requests.Session | None = None,
) -> TokenSet:
    """Rotate a refresh token; https://developer.tesla.com/docs/fleet-api/authentication/third-party-tokens#refresh-tokens"""
    # Tesla's documented refresh sends no secret, audience or scope (§2.1b). The answer
    # carries a NEW refresh token and the presented one dies after a 24 h grace (§2.4):
    # the caller must persist the new pair before doing anything else.
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    return _token_request(server, form, session, secrets=(refresh_token,))


def partner_token(
    server: AuthServer,
    *,
    client_id: str,
    client_secret: str,
    audience: str,
    scopes: Sequence[str] = PARTNER_SCOPES,
    session: requests.Session | None = None,
) -> TokenSet:
    """Client-credentials partner token; https://developer.tesla.com/docs/fleet-api/authentication/partner-tokens"""
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "audience": audience,
        "scope": " ".join(scopes),
    }
    return _token_request(server, form, session, secrets=(client_secret,))


def _token_request(
    server: AuthServer,
    form: dict[str, str],
    session: requests.Session | None,
    *,
    secrets: Iterable[str | None],
) -> TokenSet:
    own_session = session is None
    http = session or make_session()
    try:
        # Form-encoded (§2.1). No redirects: a 307/308 would replay the secret elsewhere.
        response = http.post(server.token_url, data=form, allow_redirects=False)
    except requests.Timeout as exc:
        raise TransientOAuthError(
            "Tesla token endpoint timed out", error="timeout", description=type(exc).__name__
        ) from exc
    except requests.RequestException as exc:
        raise TransientOAuthError(
            "Tesla token endpoint unreachable",
            error="connection_error",
            description=type(exc).__name__,
        ) from exc
    finally:
        if own_session:
            http.close()
    return _parse_token_response(response, secrets=[s for s in secrets if s])


def _parse_token_response(response: requests.Response, *, secrets: list[str]) -> TokenSet:
    body = _json_or_none(response)
    if not 200 <= response.status_code < 300 or body is None:
        raise _error_from_response(response, body, secrets)
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        # A 2xx without a token is a garbled answer, not a refusal. Transient is safe even
        # for a refresh: the presented refresh token stays valid for 24 h (§2.4).
        raise TransientOAuthError(
            "Tesla token endpoint answered without an access_token",
            status=response.status_code,
            error="invalid_token_response",
        )
    try:
        claims = decode_claims(access_token)
    except ValueError as exc:
        raise TransientOAuthError(
            "Tesla token endpoint answered with an unreadable access token",
            status=response.status_code,
            error="invalid_token_response",
        ) from exc
    return TokenSet(
        access_token=access_token,
        refresh_token=body.get("refresh_token") or None,
        id_token=body.get("id_token") or None,
        expires_in=_expires_in(body.get("expires_in"), claims),
        token_type=str(body.get("token_type") or "Bearer"),
        # China's partner-token answer omits `scope` (§2.1c, §7).
        scope=body.get("scope") or None,
        claims=claims,
    )


def _expires_in(value: Any, claims: TokenClaims) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        if claims.exp is not None and claims.iat is not None:
            return claims.exp - claims.iat
        return 0


# --- errors ------------------------------------------------------------------------------


def classify_oauth_error(
    status: int | None,
    error: str,
    description: str = "",
    *,
    retry_after: float | None = None,
) -> OAuthError:
    """Map a token-endpoint failure to permanent or transient (§2.5).

    Permanent: every 4xx but 429 -- `login_required` (refresh token dead or password reset),
    `invalid_auth_code`, `unauthorized_client`, `invalid_redirect_url`, `invalid_request`...
    Transient: 429, 5xx, and no status at all (timeout, connection error).
    """
    message = f"Tesla token endpoint answered {status} {error}".rstrip()
    if description:
        message += f": {description}"
    kwargs: dict[str, Any] = {"status": status, "error": error, "description": description}
    if status is None or status == 429 or status >= 500:
        return TransientOAuthError(message, retry_after=retry_after, **kwargs)
    return PermanentOAuthError(message, **kwargs)


def _error_from_response(
    response: requests.Response, body: dict[str, Any] | None, secrets: list[str]
) -> OAuthError:
    status = response.status_code
    if body is None:
        # An HTML page (WAF, load balancer, maintenance) is not Tesla's OAuth server speaking;
        # treat as transient rather than declaring the user's link dead. The body is not
        # quoted: we cannot know what it echoes.
        content_type = response.headers.get("Content-Type", "unknown")
        return TransientOAuthError(
            f"Tesla token endpoint answered {status} with a non-JSON body ({content_type})",
            status=status,
            error="invalid_response",
            description=content_type,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    error, description = _error_fields(body)
    return classify_oauth_error(
        status,
        _redact(error, secrets),
        _redact(description, secrets),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _error_fields(body: dict[str, Any]) -> tuple[str, str]:
    error = body.get("error", "")
    if isinstance(error, dict):
        # The authorize-time shape: {"error": {"message", "code", "reason"}} (§1.4).
        return str(error.get("reason") or "error"), str(error.get("message") or "")
    return str(error or ""), str(body.get("error_description") or "")


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


# --- claims ------------------------------------------------------------------------------


def decode_claims(access_token: str) -> TokenClaims:
    """Read an access token's claims; raises ValueError if it is not a JWT.

    The signature is deliberately NOT verified: the portal is the bearer, not the audience.
    The Fleet API verifies every token it receives; we only read `sub`, `scp`, `ou_code` and
    `aud` to label the link and pick a region, exactly as Tesla's own proxy does (§1.6)
    and as Tesla's FAQ advises for scopes (§2.6). Nothing here grants access.
    """
    try:
        _, payload = jws.read_unverified(access_token)
    except jws.InvalidToken as exc:
        raise ValueError("access token is not a readable JWT") from exc
    return TokenClaims(
        sub=_str_or_none(payload.get("sub")),
        scp=_as_tuple(payload.get("scp")),
        ou_code=_str_or_none(payload.get("ou_code")),
        # Tesla sends `aud` as a list of Fleet API base URLs plus the userinfo URL (§2.7).
        aud=_as_tuple(payload.get("aud")),
        exp=_int_or_none(payload.get("exp")),
        iat=_int_or_none(payload.get("iat")),
        azp=_str_or_none(payload.get("azp")),
        iss=_str_or_none(payload.get("iss")),
    )


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())  # a space-delimited scope string, or a single audience
    return tuple(str(item) for item in value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
