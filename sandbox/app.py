"""Flask application factory for the Tesla sandbox (Django-free)."""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request

from sandbox import auth, control, fleet
from sandbox.common import fleet_error, json_response, world
from sandbox.state import REQUEST_LOG_CAP, Data, World

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8001"
FAULT_NAMES = {
    # Names a fault can use instead of a path suffix.
    "token": lambda path: path.startswith("/auth/") and path.endswith("/oauth2/v3/token"),
    "authorize": lambda path: path.startswith("/auth/") and path.endswith("/oauth2/v3/authorize"),
}


def create_app(
    *,
    state_dir: str | os.PathLike[str] | None = None,
    public_url: str | None = None,
    world: World | None = None,
) -> Flask:
    """Build the sandbox app; `public_url` is the root every issued URL starts with."""
    app = Flask(__name__)
    app.config["SANDBOX_PUBLIC_URL"] = (public_url or DEFAULT_PUBLIC_URL).rstrip("/")
    app.extensions["sandbox_world"] = world or World(state_dir)
    for blueprint in (auth.bp, fleet.bp, control.bp, control.pairing_bp):
        app.register_blueprint(blueprint)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_allowed)

    @app.get("/")
    def index() -> Response:
        root = app.config["SANDBOX_PUBLIC_URL"]
        return json_response(
            {
                "sandbox": "Tesla Fleet API emulator",
                "issuers": {s: f"{root}/auth/{s}/oauth2/v3" for s in ("global", "cn")},
                "fleet": {r: f"{root}/fleet/{r}" for r in ("na", "eu", "cn")},
            }
        )

    return app


def _not_found(exc: Exception) -> Response:
    if request.path.startswith("/fleet/"):
        return fleet_error(404, "not_found")
    return json_response({"error": "not_found"}, 404)


def _not_allowed(exc: Exception) -> Response:
    # Tesla's 405 error value (§4.3).
    if request.path.startswith("/fleet/"):
        return fleet_error(405, "invalid_method")
    return json_response({"error": "invalid_method"}, 405)


def _observed(path: str) -> bool:
    """Control calls and the index are neither faulted, delayed nor logged."""
    return path.startswith(("/auth/", "/fleet/", "/_ak/"))


def _before() -> Response | None:
    path = request.path
    if not _observed(path):
        return None
    g.epochs = (world().epoch, world().log_epoch)
    g.log_extra = {}
    if FAULT_NAMES["token"](path):
        # Known before the view runs, so even faulted token calls log their grant type.
        g.log_extra = {"grant_type": request.form.get("grant_type") or None}
    w = world()
    with w.read() as data:
        latency = data["settings"]["latency"]
    if latency:
        time.sleep(latency)
    fault = _take_fault(w, path, request.method)
    if fault is None:
        return None
    g.fault_id = fault["id"]
    g.latency_after = fault.get("latency_after", 0)
    if fault["latency"]:
        time.sleep(fault["latency"])
    if fault["status"] is None:
        return None  # a latency-only fault
    return _fault_response(fault)


def _take_fault(w: World, path: str, method: str) -> dict[str, Any] | None:
    # Read first: most requests match no fault and must not rewrite the state file.
    with w.read() as data:
        for fault in data["faults"]:
            if fault["method"] and fault["method"] != method:
                continue
            named = FAULT_NAMES.get(fault["match"])
            if not (named(path) if named else path.endswith(fault["match"])):
                continue
            if fault["remaining"] is not None:
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    data["faults"].remove(fault)
                w.save()
            return dict(fault)
    return None


def _fault_response(fault: dict[str, Any]) -> Response:
    body = fault["body"]
    if isinstance(body, str):
        resp = Response(body, status=fault["status"], content_type="text/plain; charset=utf-8")
        for name, value in fault["headers"].items():
            resp.headers[name] = value
        return resp
    return json_response(body, fault["status"], fault["headers"])


def _after(response: Response) -> Response:
    if not _observed(request.path):
        return response
    w = world()
    epoch, log_epoch = getattr(g, "epochs", (w.epoch, w.log_epoch))
    if epoch == w.epoch:
        w.counters.count(request, response.status_code)
    entry = {
        "time": w.iso_now(),
        "method": request.method,
        # Path only: query strings (codes, states) and bodies (tokens) are never logged.
        "path": request.path,
        "status": response.status_code,
        **getattr(g, "log_extra", {}),
    }
    if getattr(g, "fault_id", None):
        entry["fault"] = g.fault_id
    if log_epoch == w.log_epoch:
        with w.transaction() as data:
            _append_log(data, entry)
    if getattr(g, "latency_after", 0):
        time.sleep(g.latency_after)
    return response


def _append_log(data: Data, entry: dict[str, Any]) -> None:
    log = data["request_log"]
    log.append(entry)
    del log[:-REQUEST_LOG_CAP]
