"""The two authorization servers: `/auth/global/oauth2/v3/...` and `/auth/cn/oauth2/v3/...`.

Authorize (§1.2-1.4), token (§2.1-2.5), OIDC metadata and JWKS (§2.7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, abort, g, redirect, render_template, request
from flask.typing import ResponseReturnValue
from jwt.algorithms import RSAAlgorithm

from sandbox import tokens
from sandbox.common import (
    issuer,
    json_response,
    oauth_error,
    reference_id,
    server_audiences,
    world,
)
from sandbox.seed import SERVER_REGIONS
from sandbox.state import Data, token_hash

bp = Blueprint("auth", __name__, url_prefix="/auth/<server>/oauth2/v3")

CODE_TTL = 600  # UNKNOWN (§2.3): 10 minutes, documented in README
KNOWN_SCOPES = [
    "openid",
    "offline_access",
    "user_data",
    "vehicle_device_data",
    "vehicle_location",
    "vehicle_cmds",
    "vehicle_charging_cmds",
    "energy_device_data",
    "energy_cmds",
]
# Scope names one authorization server accepts beyond the documented ones. `vehicle_specs`:
# the China workflow this project grew from asks auth.tesla.cn for it and got a code; what
# Tesla grants for it is UNKNOWN (one third-party doc, §2.6). The sandbox accepts it on the
# China server only (stricter: nothing shows the global server accepting it) and grants it
# like any consented scope; no sandbox endpoint requires it.
SERVER_SCOPES: dict[str, list[str]] = {"cn": ["vehicle_specs"]}


def known_scopes(server: str) -> list[str]:
    return KNOWN_SCOPES + SERVER_SCOPES.get(server, [])


UNREGISTERED_REDIRECT = (
    "We don't recognize this redirect URI/URL. Please use the redirect URI/URL found in your "
    "app details."
)


@bp.url_value_preprocessor
def _check_server(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is None or values.get("server") not in SERVER_REGIONS:
        abort(404)


def _authorize_error(message: str) -> ResponseReturnValue:
    """Tesla's authorize-time error shape (§1.4)."""
    body = {
        "error": {
            "message": message,
            "code": 400,
            "reason": "AuthorizationError",
            "referenceID": reference_id(),
        }
    }
    return json_response(body, 400)


def _authorize_params(server: str, source: Any) -> tuple[dict[str, Any] | None, Any]:
    """Validate the authorize request; returns (params, None) or (None, error response)."""
    with world().read() as data:
        client = data["clients"].get(source.get("client_id", ""))
        if client is None or client["server"] != server:
            # A .com client id at .cn endpoints fails with client_not_found (§7).
            return None, _authorize_error("client_not_found")
        if source.get("redirect_uri") not in client["redirect_uris"]:
            return None, _authorize_error(UNREGISTERED_REDIRECT)
    if source.get("response_type") != "code":
        return None, _authorize_error("response_type must be code")
    if not source.get("state"):
        return None, _authorize_error("state is required")
    requested = source.get("scope", "").split()
    if not requested:
        return None, _authorize_error("scope is required")
    unknown = [s for s in requested if s not in known_scopes(server)]
    if unknown:
        return None, _authorize_error(f"invalid scope: {' '.join(unknown)}")
    method = source.get("code_challenge_method", "")
    if source.get("code_challenge") and method not in ("", "S256"):
        # §1.2: method UNKNOWN, S256 assumed; the stricter sandbox refuses `plain`.
        return None, _authorize_error("code_challenge_method must be S256")
    params = {
        name: source.get(name, "")
        for name in (
            "client_id",
            "redirect_uri",
            "response_type",
            "state",
            "nonce",
            "locale",
            "code_challenge",
            "code_challenge_method",
            "require_requested_scopes",
            "prompt",
            "prompt_missing_scopes",
            "show_keypair_step",
        )
    }
    params["scope"] = " ".join(requested)
    return params, None


@bp.get("/authorize")
def authorize(server: str) -> ResponseReturnValue:
    params, error = _authorize_params(server, request.args)
    if error is not None:
        return error
    return _consent_page(server, params)


def _consent_page(
    server: str, params: dict[str, Any], message: str = "", status: int = 200
) -> ResponseReturnValue:
    with world().read() as data:
        users = [u for u in data["users"].values() if u["server"] == server]
        client = data["clients"][params["client_id"]]
    html = render_template(
        "authorize.html",
        server=server,
        params=params,
        client=client,
        users=users,
        requested=params["scope"].split(),
        message=message,
    )
    return html, status


@bp.post("/authorize")
def authorize_submit(server: str) -> ResponseReturnValue:
    params, error = _authorize_params(server, request.form)
    if error is not None:
        return error
    if request.form.get("action") == "cancel":
        return _redirect(
            params["redirect_uri"],
            error="login_cancelled",
            error_description="User cancelled login",
            state=params["state"],
        )
    requested = params["scope"].split()
    granted = [s for s in request.form.getlist("granted") if s in requested]
    if params["require_requested_scopes"] == "true" and set(granted) != set(requested):
        return _consent_page(server, params, "All requested scopes must be granted.", 400)
    w = world()
    with w.transaction() as data:
        user = _find_user(data, server, request.form.get("user", ""))
        if user is None:
            return _consent_page(server, params, "Choose a Tesla account to sign in.", 400)
        code = f"{user['region']}_{secrets.token_urlsafe(32)}"
        _prune_codes(data, w.now())
        data["codes"][token_hash(code)] = {
            **params,
            "server": server,
            "user": user["id"],
            "granted": granted,
            "created_at": w.now(),
            "used": False,
        }
        locale = params["locale"] or user["locale"]
    return _redirect(
        params["redirect_uri"],
        locale=locale,
        code=code,
        state=params["state"],
        issuer=issuer(server),
    )


def _find_user(data: Data, server: str, key: str) -> dict[str, Any] | None:
    for user in data["users"].values():
        if user["server"] == server and key in (user["id"], user["email"]):
            return user
    return None


def _prune_codes(data: Data, now: float) -> None:
    for digest in [d for d, c in data["codes"].items() if now - c["created_at"] > CODE_TTL]:
        del data["codes"][digest]


def _redirect(uri: str, **query: str) -> ResponseReturnValue:
    # urlencode with quote_via=quote gives `User%20cancelled%20login` as Tesla sends (1.3).
    sep = "&" if "?" in uri else "?"
    return redirect(uri + sep + urlencode(query, quote_via=quote), code=302)


# -- token endpoint ------------------------------------------------------------------------


@bp.post("/token")
def token(server: str) -> ResponseReturnValue:
    grant = request.form.get("grant_type", "")
    g.log_extra = {"grant_type": grant or None, "client_id": request.form.get("client_id")}
    handlers = {
        "authorization_code": _grant_authorization_code,
        "refresh_token": _grant_refresh_token,
        "client_credentials": _grant_client_credentials,
    }
    handler = handlers.get(grant)
    if handler is None:
        return oauth_error(
            400,
            "unsupported_grant_type",
            "Use one of: client_credentials, refresh_token, authorization_code",
        )
    return handler(server)


def _authenticate_client(data: Data, server: str) -> dict[str, Any] | None:
    client = data["clients"].get(request.form.get("client_id", ""))
    secret = request.form.get("client_secret", "")
    if client is None or client["server"] != server:
        return None
    if not hmac.compare_digest(secret.encode(), client["secret"].encode()):
        return None
    return client


def _unauthorized_client() -> ResponseReturnValue:
    # §2.5: 400 per conventions, 401 observed: the emulator answers what was observed.
    return oauth_error(
        401,
        "unauthorized_client",
        "We don't recognize this client_id and client_secret combination",
        error_uri=True,
    )


def _audience_error(server: str) -> ResponseReturnValue | None:
    audience = request.form.get("audience", "")
    if not audience:
        return oauth_error(400, "invalid_request", "audience is required")
    if audience not in server_audiences(server):
        return oauth_error(
            400,
            "invalid_request",
            "audience must be a Fleet API base URL served by this authorization server",
        )
    return None


def _pkce_ok(record: dict[str, Any], verifier: str) -> bool:
    challenge = record["code_challenge"]
    if not challenge:
        # Stricter: a verifier without a challenge on authorize is refused too.
        return not verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return bool(verifier) and hmac.compare_digest(expected, challenge)


def _grant_authorization_code(server: str) -> ResponseReturnValue:
    w = world()
    form = request.form
    with w.transaction() as data:
        client = _authenticate_client(data, server)
        if client is None:
            return _unauthorized_client()
        record = data["codes"].get(token_hash(form.get("code", "")))
        if (
            record is None
            or record["used"]
            or record["client_id"] != client["client_id"]
            or record["server"] != server
            or w.now() - record["created_at"] > CODE_TTL
        ):
            return oauth_error(
                400, "invalid_auth_code", "The authorization code is invalid or expired"
            )
        # Single use: the code is burnt by any exchange attempt that names it (stricter).
        record["used"] = True
        if form.get("redirect_uri", "") != record["redirect_uri"]:
            return oauth_error(
                400,
                "invalid_redirect_url",
                "The authorize redirect URI and token redirect URI must match.",
            )
        if not _pkce_ok(record, form.get("code_verifier", "")):
            return oauth_error(400, "invalid_request", "Invalid code_verifier", error_uri=True)
        error = _audience_error(server)
        if error is not None:
            return error
        asked = form.get("scope", "").split()
        if any(s not in record["granted"] for s in asked):
            return oauth_error(400, "invalid_scope", "Requested scope was not granted")
        user = data["users"][record["user"]]
        auth_time = int(record["created_at"])
        chain = tokens.new_chain(
            data,
            now=w.now(),
            user=user,
            client_id=client["client_id"],
            scopes=record["granted"],
            auth_time=auth_time,
        )
        body = tokens.issue_tokens(w, data, chain, nonce=record["nonce"])
        if record["state"]:
            body["state"] = record["state"]
    return json_response(body)


def _grant_refresh_token(server: str) -> ResponseReturnValue:
    w = world()
    form = request.form
    with w.transaction() as data:
        client = data["clients"].get(form.get("client_id", ""))
        if client is None or client["server"] != server:
            return _unauthorized_client()
        if form.get("client_secret") and _authenticate_client(data, server) is None:
            return _unauthorized_client()
        presented = form.get("refresh_token", "")
        chain_id = data["refresh_index"].get(token_hash(presented))
        chain = data["chains"].get(chain_id) if chain_id else None
        if chain is None or chain["client_id"] != client["client_id"]:
            return _login_required()
        try:
            chain = tokens.find_refresh_chain(w, data, presented)
        except tokens.TokenRejected:
            return _login_required()
        body = tokens.issue_tokens(w, data, chain)
    return json_response(body)


def _login_required() -> ResponseReturnValue:
    return oauth_error(401, "login_required", "Login required")


def _grant_client_credentials(server: str) -> ResponseReturnValue:
    w = world()
    with w.transaction() as data:
        client = _authenticate_client(data, server)
        if client is None:
            return _unauthorized_client()
    error = _audience_error(server)
    if error is not None:
        return error
    scopes = request.form.get("scope", "openid").split()
    # UNKNOWN (§2.7): partner-token aud is only the requested region (stricter), so a
    # partner token cannot be replayed against the other region of the same server.
    access, _ = tokens.mint_access(
        w,
        server=server,
        client_id=client["client_id"],
        sub=client["client_id"],
        scopes=scopes,
        ou_code=None,
        locale=None,
        auth_time=int(w.now()),
        audiences=[request.form["audience"]],
    )
    body = {"access_token": access, "expires_in": tokens.PARTNER_TTL, "token_type": "Bearer"}
    return json_response(body)


# -- discovery -------------------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def openid_configuration(server: str) -> ResponseReturnValue:
    iss = issuer(server)
    return json_response(
        {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "userinfo_endpoint": f"{iss}/userinfo",
            "jwks_uri": f"{iss}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": known_scopes(server),
        }
    )


@bp.get("/jwks")
def jwks(server: str) -> ResponseReturnValue:
    kid, key = world().signing_key()
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="RS256")
    return json_response({"keys": [jwk]})


@bp.get("/userinfo")
def userinfo(server: str) -> ResponseReturnValue:
    w = world()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return json_response({"error": "invalid_token"}, 401)
    raw = header.removeprefix("Bearer ")
    try:
        claims = tokens.decode_access(w, raw)
        with w.read() as data:
            tokens.check_not_revoked(data, raw, claims)
            user = data["users"].get(claims["sub"])
    except tokens.TokenRejected:
        return json_response({"error": "invalid_token"}, 401)
    if user is None or claims["iss"] != issuer(server):
        return json_response({"error": "invalid_token"}, 401)
    return json_response({"sub": user["id"], "email": user["email"], "name": user["full_name"]})
