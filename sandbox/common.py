"""Helpers shared by the blueprints: the world, the URL layout, Tesla's response shapes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Response, current_app, g

from sandbox.seed import SERVER_REGIONS
from sandbox.state import World, new_txid

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def world() -> World:
    return current_app.extensions["sandbox_world"]


def root() -> str:
    return current_app.config["SANDBOX_PUBLIC_URL"]


def issuer(server: str) -> str:
    return f"{root()}/auth/{server}/oauth2/v3"


def fleet_base(region: str) -> str:
    return f"{root()}/fleet/{region.lower()}"


def server_audiences(server: str) -> list[str]:
    """The Fleet base URLs a token of this server is minted for (§1.1, §2.7)."""
    return [fleet_base(r) for r in SERVER_REGIONS[server]]


def developer_site(region: str) -> str:
    # China error texts point at developer.tesla.cn (§5.2, §7).
    return "https://developer.tesla.cn" if region == "CN" else "https://developer.tesla.com"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(body), status=status, content_type=JSON_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def txid() -> str:
    if "txid" not in g:
        g.txid = new_txid()
    return g.txid


def envelope(response: Any, status: int = 200, **extra: Any) -> Response:
    """Fleet API success envelope (§4.1): `response` plus `txid` (and e.g. `count`)."""
    body = {"response": response, **extra, "txid": txid()}
    return json_response(body, status, {"x-txid": txid()})


def fleet_error(
    status: int,
    error: str,
    description: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Fleet API error body `{"response": null, "error", "error_description", "txid"}` (4.1)."""
    body = {
        "response": None,
        "error": error,
        "error_description": description,
        **extra,
        "txid": txid(),
    }
    return json_response(body, status, {"x-txid": txid(), **(headers or {})})


def reference_id() -> str:
    return str(uuid.uuid4())


def oauth_error(status: int, error: str, description: str, *, error_uri: bool = False) -> Response:
    """Token-endpoint error body (§2.5): error, error_description, referenceID."""
    ref = reference_id()
    body: dict[str, Any] = {"error": error, "error_description": description, "referenceID": ref}
    if error_uri:
        body["error_uri"] = f"{root()}/auth/error/reference/{ref}"
    return json_response(body, status)
