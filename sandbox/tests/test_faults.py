"""Fault injection, latency and the request log (control API)."""

from __future__ import annotations

import time

import pytest

from sandbox.testing import ControlError
from sandbox.tests.helpers import api, consent, exchange, login


def test_fault_by_path_suffix_answers_status_body_headers_count_times(sandbox, registered):
    token = login(sandbox)["access_token"]
    sandbox.control.fault(
        "/api/1/vehicles",
        status=429,
        body={"response": None, "error": "Retry in 37829 seconds", "error_description": ""},
        headers={"Retry-After": "37829"},
        count=2,
    )
    for _ in range(2):
        resp = api(sandbox, "na", "GET", "/api/1/vehicles", token)
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "37829"
        assert resp.json()["error"] == "Retry in 37829 seconds"
    assert api(sandbox, "na", "GET", "/api/1/vehicles", token).status_code == 200


def test_named_token_fault_hits_token_calls_and_is_logged(sandbox):
    sandbox.control.clear_requests()
    fault = sandbox.control.fault(
        "token",
        status=500,
        body={"error": "server_error", "error_description": "Internal server error"},
        count=1,
    )
    code = consent(sandbox)["code"]
    resp = exchange(sandbox, code)
    assert resp.status_code == 500
    assert resp.json()["error"] == "server_error"
    # The faulted call never reached the view, so the code is still good.
    assert exchange(sandbox, code).status_code == 200
    calls = sandbox.control.requests(path="/token")
    assert [(c["status"], c.get("fault")) for c in calls] == [(500, fault["id"]), (200, None)]
    assert all(c["grant_type"] == "authorization_code" for c in calls)


def test_latency_fault_delays_without_changing_the_answer(sandbox):
    sandbox.control.fault("/status", latency=0.3, count=1)
    start = time.monotonic()
    resp = api(sandbox, "eu", "GET", "/status", None)
    assert time.monotonic() - start >= 0.3
    assert resp.text == "ok"
    start = time.monotonic()
    api(sandbox, "eu", "GET", "/status", None)
    assert time.monotonic() - start < 0.3


def test_global_latency_applies_to_every_api_call(sandbox):
    sandbox.control.latency(0.2)
    start = time.monotonic()
    api(sandbox, "na", "GET", "/status", None)
    assert time.monotonic() - start >= 0.2
    sandbox.control.latency(0)


def test_method_filter_and_clear(sandbox):
    sandbox.control.fault("/status", status=503, body="down", method="POST")
    assert api(sandbox, "na", "GET", "/status", None).status_code == 200
    assert api(sandbox, "na", "POST", "/status", None).status_code == 503
    sandbox.control.clear_faults()
    assert sandbox.control.requests(path="/status")[-1]["status"] == 503


def test_reset_clears_faults_clock_and_log(sandbox):
    sandbox.control.fault("/status", status=503)
    sandbox.control.advance_clock(1000)
    api(sandbox, "na", "GET", "/status", None)
    sandbox.control.reset()
    assert api(sandbox, "na", "GET", "/status", None).status_code == 200
    assert len(sandbox.control.requests()) == 1
    assert abs(sandbox.control.now() - time.time()) < 5


def test_settings_refuse_unknown_names_and_wrong_types(sandbox):
    for bad in ({"nope": 1}, {"max_configs": "3"}, {"offline_status": 404}, {"wake_delay": -1}):
        with pytest.raises(ControlError):
            sandbox.control.settings(**bad)
    assert sandbox.control.settings(max_configs=5, latency=0)["max_configs"] == 5
