"""Exact request counters: `GET /control/counters` (sandbox/counters.py, sandbox/README.md)."""

from __future__ import annotations

import requests

from sandbox.tests.helpers import TIMEOUT, api, client, login, partner_token, refresh

PAIRED = "5YJ3E1EA7PF000001"


def _delta(before: dict, after: dict) -> dict:
    """What changed per group since `before` (keys that stayed equal are left out)."""
    changed = {}
    for group in ("token", "fleet", "other", "status"):
        old, new = before[group], after[group]
        changed[group] = {k: v - old.get(k, 0) for k, v in new.items() if v != old.get(k, 0)}
    changed["total"] = after["total"] - before["total"]
    return changed


def test_counts_by_grant_route_and_status_and_reset_clears(sandbox, registered):
    # The fixture registered the partner (token and Fleet calls): count from here on.
    before = sandbox.control.counters()
    assert before["total"] > 0
    tokens = login(sandbox)  # the consent form POST (a 302), 1 authorization_code
    refreshed = refresh(sandbox, tokens["refresh_token"])
    assert refreshed.status_code == 200
    bad_grant = requests.post(
        f"{sandbox.issuer('cn')}/token",
        data={"grant_type": "password", "client_id": client(sandbox, "cn")["client_id"]},
        timeout=TIMEOUT,
    )
    assert bad_grant.status_code == 400
    partner_token(sandbox, "na")
    access = refreshed.json()["access_token"]  # the refresh revoked the first one
    for _ in range(3):
        assert api(sandbox, "na", "GET", "/api/1/vehicles", access).status_code == 200
    assert api(sandbox, "na", "GET", "/api/1/vehicles", None).status_code == 401
    sandbox.control.fault("/api/1/vehicles", status=429, count=1)
    assert api(sandbox, "eu", "GET", "/api/1/vehicles", access).status_code == 429
    assert api(sandbox, "na", "GET", f"/api/1/vehicles/{PAIRED}", access).status_code == 200
    assert api(sandbox, "na", "GET", "/api/1/no_such_route", access).status_code == 404

    counts = _delta(before, sandbox.control.counters())
    assert counts["token"] == {
        "global:authorization_code": 1,
        "global:refresh_token": 1,
        "global:client_credentials": 1,
        "cn:other": 1,
    }
    assert counts["fleet"] == {
        "GET /api/1/vehicles": 5,  # 3 answered, one 401, one faulted 429
        "GET /api/1/vehicles/<tag>": 1,  # the template, not the VIN
        "GET (no route)": 1,
    }
    assert counts["other"] == {"POST /auth/<server>/oauth2/v3/authorize": 1}
    assert counts["status"] == {"200": 7, "302": 1, "400": 1, "401": 1, "404": 1, "429": 1}
    assert counts["total"] == 12
    # Known routes are listed even when never called; control calls are never counted.
    after = sandbox.control.counters()
    assert "POST /api/1/vehicles/fleet_telemetry_config_jws" in after["fleet"]
    assert "cn:refresh_token" in after["token"]
    assert sandbox.control.counters() == after

    sandbox.control.reset()
    cleared = sandbox.control.counters()
    assert cleared["total"] == 0 and cleared["status"] == {} and cleared["other"] == {}
    assert set(cleared["token"].values()) == {0} and set(cleared["fleet"].values()) == {0}


def test_counts_are_not_truncated_like_the_request_log(sandbox):
    from sandbox.state import REQUEST_LOG_CAP

    calls = REQUEST_LOG_CAP + 20
    with requests.Session() as http:
        for _ in range(calls):
            assert http.get(f"{sandbox.fleet('na')}/status", timeout=TIMEOUT).text == "ok"
    assert len(sandbox.control.requests()) == REQUEST_LOG_CAP
    counts = sandbox.control.counters()
    assert counts["fleet"]["GET /status"] == calls
    assert counts["status"] == {"200": calls}


def test_a_request_in_flight_across_a_reset_neither_counts_nor_logs(sandbox):
    # A test's delayed call must not land in the next test's world (it did, as a stray 401
    # in the request log, when a reset came while a latency fault held it).
    import threading
    import time

    sandbox.control.fault("/oauth2/v3/token", latency=1.0, count=1)
    answered = []
    slow = threading.Thread(
        target=lambda: answered.append(
            requests.post(
                f"{sandbox.issuer('global')}/token",
                data={"grant_type": "refresh_token", "client_id": "x", "refresh_token": "y"},
                timeout=TIMEOUT,
            ).status_code
        )
    )
    slow.start()
    # The fault leaves the list when a call takes it: the call is then in its sleep.
    for _ in range(100):
        if not sandbox.control._call("GET", "/faults")["faults"]:
            break
        time.sleep(0.01)
    sandbox.control.reset()  # while the call sleeps in the fault
    slow.join()
    assert answered == [401]
    assert sandbox.control.requests() == []
    assert sandbox.control.counters()["total"] == 0
