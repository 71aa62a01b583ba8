"""Access/id tokens (RS256 JWTs, §2.7) and refresh-token chains (§2.4).

A *chain* is one consent grant of a user to a client. It holds the refresh token that may
be used next (`current`), the most recently used one (`used`, accepted for 24 h) and the
access tokens minted from it. Tokens are stored only as SHA-256 digests.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import jwt

from sandbox.common import issuer, server_audiences
from sandbox.state import Data, World, token_hash

ACCESS_TTL = 28800  # 8 h: expires_in and exp - iat of real tokens (§2.2, §2.3)
PARTNER_TTL = 28800  # UNKNOWN (§2.3): assume 8 h like user tokens
REFRESH_TTL = 90 * 86400  # "valid for 3 months" (§2.3)
REFRESH_GRACE = 86400  # "most recently used refresh token is valid for up to 24 hours" (2.4)


class TokenRejected(Exception):
    """A bearer token that must not be honoured; `reason` becomes the Fleet API error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _encode(w: World, claims: dict[str, Any]) -> str:
    kid, key = w.signing_key()
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def mint_access(
    w: World,
    *,
    server: str,
    client_id: str,
    sub: str,
    scopes: list[str],
    ou_code: str | None,
    locale: str | None,
    auth_time: int,
    audiences: list[str] | None = None,
) -> tuple[str, int]:
    iat = int(w.now())
    iss = issuer(server)
    claims: dict[str, Any] = {
        "iss": iss,
        "azp": client_id,
        "sub": sub,
        # A list, never a string: Tesla's proxy rejects a string aud (§1.6).
        "aud": [*(audiences or server_audiences(server)), f"{iss}/userinfo"],
        "scp": scopes,
        "amr": ["pwd"],
        "iat": iat,
        "exp": iat + ACCESS_TTL,
        "auth_time": auth_time,
        # Not in Tesla's sample token; without it two tokens minted in the same second
        # would be byte-identical and a revoked one indistinguishable from its successor.
        "jti": uuid.uuid4().hex,
    }
    if ou_code:
        claims["ou_code"] = ou_code
    if locale:
        claims["locale"] = locale
    return _encode(w, claims), claims["exp"]


def mint_id_token(
    w: World, *, server: str, client_id: str, user: dict[str, Any], auth_time: int, nonce: str
) -> str:
    iat = int(w.now())
    claims: dict[str, Any] = {
        "iss": issuer(server),
        "aud": client_id,
        "sub": user["id"],
        "email": user["email"],
        "name": user["full_name"],
        "iat": iat,
        "exp": iat + ACCESS_TTL,
        "auth_time": auth_time,
    }
    if nonce:
        claims["nonce"] = nonce
    return _encode(w, claims)


def decode_access(w: World, token: str) -> dict[str, Any]:
    """Verify signature, issuer and expiry (on the sandbox clock) of an access token."""
    kid, key = w.signing_key()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("kid") != kid:
            raise TokenRejected("invalid bearer token")
        # exp is checked below against the sandbox clock, aud by the Fleet API per region.
        claims = jwt.decode(
            token,
            key.public_key(),
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected("invalid bearer token") from exc
    if claims.get("iss") not in {issuer("global"), issuer("cn")}:
        raise TokenRejected("invalid bearer token")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= w.now():
        raise TokenRejected("token expired (401)")
    return claims


def check_not_revoked(data: Data, token: str, claims: dict[str, Any]) -> None:
    """User tokens must belong to a live chain (password reset / consent revocation)."""
    if claims["sub"] == claims["azp"]:
        return  # partner token: no chain, lives until exp
    entry = data["access_index"].get(token_hash(token))
    if entry is None:
        raise TokenRejected("invalid bearer token")
    chain = data["chains"].get(entry["chain"])
    if chain is None or chain["revoked"]:
        raise TokenRejected("invalid bearer token")


# -- chains ------------------------------------------------------------------------------


def new_chain(
    data: Data,
    *,
    now: float,
    user: dict[str, Any],
    client_id: str,
    scopes: list[str],
    auth_time: int,
) -> dict[str, Any]:
    chain = {
        "id": str(uuid.uuid4()),
        "user": user["id"],
        "client_id": client_id,
        "server": user["server"],
        "scopes": scopes,
        "auth_time": auth_time,
        "created_at": now,
        "current": None,
        "current_issued_at": None,
        "used": None,
        "used_at": None,
        "used_issued_at": None,
        "revoked": False,
    }
    data["chains"][chain["id"]] = chain
    return chain


def issue_tokens(w: World, data: Data, chain: dict[str, Any], *, nonce: str = "") -> dict[str, Any]:
    """Mint an access token (and refresh/id token when granted) for chain."""
    now = w.now()
    user = data["users"][chain["user"]]
    if w.data["settings"]["revoke_access_on_refresh"]:
        _drop_access(data, chain["id"])
    _prune_access(data, now)
    access, exp = mint_access(
        w,
        server=chain["server"],
        client_id=chain["client_id"],
        sub=user["id"],
        scopes=chain["scopes"],
        ou_code=user["region"],
        locale=user["locale"],
        auth_time=chain["auth_time"],
    )
    digest = token_hash(access)
    data["access_index"][digest] = {"chain": chain["id"], "exp": exp}
    chain.setdefault("access", []).append(digest)
    body: dict[str, Any] = {
        "access_token": access,
        "expires_in": ACCESS_TTL,
        "token_type": "Bearer",
    }
    if "offline_access" in chain["scopes"]:
        refresh = f"{user['region']}_{secrets.token_hex(32)}"
        _replace_current(data, chain, token_hash(refresh), now)
        body["refresh_token"] = refresh
    if "openid" in chain["scopes"]:
        body["id_token"] = mint_id_token(
            w,
            server=chain["server"],
            client_id=chain["client_id"],
            user=user,
            auth_time=chain["auth_time"],
            nonce=nonce,
        )
    return body


def _replace_current(data: Data, chain: dict[str, Any], digest: str, now: float) -> None:
    # A never-used current token that is replaced is "cycled out by newer refresh tokens".
    if chain["current"] and chain["current"] != chain["used"]:
        data["refresh_index"].pop(chain["current"], None)
    chain["current"] = digest
    chain["current_issued_at"] = now
    data["refresh_index"][digest] = chain["id"]


def _drop_access(data: Data, chain_id: str) -> None:
    # Each chain lists its own access tokens: a refresh costs the same with 10 or 10,000
    # chains in the world (the portal's benchmarks refresh thousands of links).
    chain = data["chains"][chain_id]
    for digest in chain.get("access", []):
        data["access_index"].pop(digest, None)
    chain["access"] = []


PRUNE_EVERY = 300  # seconds of sandbox time between sweeps of expired access tokens


def _prune_access(data: Data, now: float) -> None:
    if now - data.get("access_pruned_at", 0) < PRUNE_EVERY:
        return
    data["access_pruned_at"] = now
    for digest in [d for d, e in data["access_index"].items() if e["exp"] <= now]:
        del data["access_index"][digest]


def revoke_chain(data: Data, chain: dict[str, Any]) -> None:
    chain["revoked"] = True
    for key in ("current", "used"):
        if chain[key]:
            data["refresh_index"].pop(chain[key], None)
    _drop_access(data, chain["id"])


def find_refresh_chain(w: World, data: Data, token: str) -> dict[str, Any]:
    """Apply the emulator rotation rules of §2.4 and mark the presented token used.

    Raises TokenRejected("login_required") for anything that may not be refreshed.
    """
    now = w.now()
    digest = token_hash(token)
    chain_id = data["refresh_index"].get(digest)
    chain = data["chains"].get(chain_id) if chain_id else None
    if chain is None or chain["revoked"]:
        raise TokenRejected("login_required")
    if digest == chain["current"]:
        issued_at = chain["current_issued_at"]
        if now - issued_at >= REFRESH_TTL:
            raise TokenRejected("login_required")
        # The previously used token is now "older in the chain": it dies.
        if chain["used"] and chain["used"] != digest:
            data["refresh_index"].pop(chain["used"], None)
        chain["used"], chain["used_at"], chain["used_issued_at"] = digest, now, issued_at
        return chain
    if digest == chain["used"]:
        # Grace runs from the first use, not from each re-presentation (stricter).
        if now - chain["used_at"] >= REFRESH_GRACE or now - chain["used_issued_at"] >= REFRESH_TTL:
            raise TokenRejected("login_required")
        return chain
    raise TokenRejected("login_required")
