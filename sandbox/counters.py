"""Exact request counters for benchmarks: `GET /control/counters` (shape in sandbox/README.md).

The request log keeps only the last REQUEST_LOG_CAP entries, so a bench that makes
thousands of calls cannot count them there. These counters never truncate, are keyed by
something stable (grant type per auth server, Fleet API route template, status code) and
have their own small lock: counting never waits for the world's lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from flask import Flask, Request

SERVERS = ("global", "cn")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
FLEET_PREFIX = "/fleet/<region>"
TOKEN_RULE = "/auth/<server>/oauth2/v3/token"
UNMATCHED = "(no route)"
_SKIPPED_METHODS = {"HEAD", "OPTIONS"}


class Counters:
    """Counts of answered requests; `count()` is called once per observed request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: Counter[str] = Counter()
        self._fleet: Counter[str] = Counter()
        self._other: Counter[str] = Counter()
        self._status: Counter[str] = Counter()

    def count(self, request: Request, status: int) -> None:
        group, key = classify(request)
        with self._lock:
            {"token": self._token, "fleet": self._fleet, "other": self._other}[group][key] += 1
            self._status[str(status)] += 1

    def reset(self) -> None:
        with self._lock:
            for counter in (self._token, self._fleet, self._other, self._status):
                counter.clear()

    def snapshot(self, app: Flask) -> dict[str, Any]:
        """Every known token grant and Fleet route appears, with 0 when never called."""
        token = dict.fromkeys(token_keys(), 0)
        fleet = dict.fromkeys(fleet_keys(app), 0)
        with self._lock:
            token.update(self._token)
            fleet.update(self._fleet)
            other = dict(self._other)
            status = dict(self._status)
        return {
            "token": token,
            "fleet": fleet,
            "other": other,
            "status": status,
            "total": sum(status.values()),
        }


def token_keys() -> list[str]:
    return [f"{server}:{grant}" for server in SERVERS for grant in GRANT_TYPES]


def fleet_keys(app: Flask) -> list[str]:
    """ "METHOD /api/..." for every Fleet API route, from the app's own URL map."""
    keys = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(FLEET_PREFIX):
            continue
        for method in sorted((rule.methods or set()) - _SKIPPED_METHODS):
            keys.append(f"{method} {rule.rule[len(FLEET_PREFIX) :]}")
    return sorted(keys)


def classify(request: Request) -> tuple[str, str]:
    """("token", "global:refresh_token"), ("fleet", "GET /api/1/vehicles") or ("other", ...).

    Keys use the route template, never the concrete path (VINs, domains), so they stay few.
    """
    rule = request.url_rule.rule if request.url_rule is not None else None
    if rule == TOKEN_RULE:
        return "token", _token_key(request)
    if rule is None:
        group = "fleet" if request.path.startswith("/fleet/") else "other"
        return group, f"{request.method} {UNMATCHED}"
    if rule.startswith(FLEET_PREFIX):
        return "fleet", f"{request.method} {rule[len(FLEET_PREFIX) :]}"
    return "other", f"{request.method} {rule}"


def _token_key(request: Request) -> str:
    server = (request.view_args or {}).get("server", "")
    grant = request.form.get("grant_type", "")
    # Unknown values are bucketed, so a client sending junk cannot grow the dict unbounded.
    server = server if server in SERVERS else "other"
    grant = grant if grant in GRANT_TYPES else ("none" if not grant else "other")
    return f"{server}:{grant}"
