"""A car changing hands (control API), and the request log naming whose token called."""

from __future__ import annotations

from sandbox.tests.helpers import api, login

ALICE_3 = "5YJ3E1EA7PF000001"


def _vins(sandbox, token: str, region: str = "na") -> list[str]:
    resp = api(sandbox, region, "GET", "/api/1/vehicles", token)
    assert resp.status_code == 200, resp.text
    return [v["vin"] for v in resp.json()["response"]]


def test_a_moved_car_is_listed_only_by_its_new_owner_in_their_region(sandbox, registered):
    alice = login(sandbox, user="alice@example.com")["access_token"]
    erika = login(sandbox, user="erika@example.de")["access_token"]

    moved = sandbox.control.move_vehicle(ALICE_3, "erika@example.de")

    assert moved == {"vin": ALICE_3, "user": "erika@example.de", "access_type": "OWNER"}
    assert ALICE_3 not in _vins(sandbox, alice)
    assert ALICE_3 in _vins(sandbox, erika, "eu")
    errors = api(sandbox, "na", "GET", f"/api/1/vehicles/{ALICE_3}/fleet_telemetry_errors", alice)
    assert errors.status_code == 404


def test_the_request_log_names_the_user_whose_token_called(sandbox, registered):
    alice = login(sandbox, user="alice@example.com")["access_token"]
    bob = login(sandbox, user="bob@example.com")["access_token"]
    sandbox.control.clear_requests()

    _vins(sandbox, alice)
    _vins(sandbox, bob)

    calls = sandbox.control.requests(path="/api/1/vehicles")
    assert [c["user"] for c in calls] == ["alice@example.com", "bob@example.com"]
    assert alice not in str(calls) and bob not in str(calls)
