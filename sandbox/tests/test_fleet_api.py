"""Regional Fleet API: bearer checks, users, vehicles, pagination, offline cars (§4)."""

from __future__ import annotations

import jwt
import pytest
import requests

from sandbox.testing import ControlError
from sandbox.tests.helpers import TIMEOUT, api, login, partner_token, register_partner

ALICE_3 = "5YJ3E1EA7PF000001"
ALICE_ASLEEP = "7SAYGDEE9RF000002"
ERIKA_Y = "XP7YGCEK0PB000006"


def test_status_answers_plain_ok(sandbox):
    resp = requests.get(f"{sandbox.fleet('eu')}/status", timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.text == "ok"


def test_users_region_answers_region_and_base_url(sandbox, registered):
    token = login(sandbox, user="erika@example.de")["access_token"]
    resp = api(sandbox, "eu", "GET", "/api/1/users/region", token)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert body["response"] == {"region": "eu", "fleet_api_base_url": sandbox.fleet("eu")}
    assert body["txid"]


def test_user_of_another_region_gets_421_with_body_and_alt_svc(sandbox, registered):
    token = login(sandbox, user="erika@example.de")["access_token"]
    resp = api(sandbox, "na", "GET", "/api/1/users/region", token)
    assert resp.status_code == 421
    assert resp.json()["error"] == (
        f"user out of region, use base URL: {sandbox.fleet('eu')}, see "
        "https://developer.tesla.com/docs/fleet-api#regional-requirements"
    )
    assert resp.json()["response"] is None
    assert resp.headers["Alt-Svc"] == f"h2={sandbox.fleet('eu')}"


def test_unregistered_partner_region_gets_412(sandbox, key_server):
    assert register_partner(sandbox, key_server.domain, "na").status_code == 200
    token = login(sandbox, user="erika@example.de")["access_token"]
    resp = api(sandbox, "eu", "GET", "/api/1/vehicles", token)
    assert resp.status_code == 412
    client_id = jwt.decode(token, options={"verify_signature": False})["azp"]
    assert resp.json()["error"] == (
        f"Account {client_id} must be registered in the current region {sandbox.fleet('eu')}, "
        "please see https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints"
        "#register"
    )


def test_missing_scope_is_403(sandbox, registered):
    token = login(sandbox, scope="openid offline_access vehicle_device_data")["access_token"]
    resp = api(sandbox, "na", "GET", "/api/1/users/me", token)
    assert resp.status_code == 403
    assert resp.json()["error"] == "Unauthorized missing scopes"


def test_missing_garbage_and_expired_tokens_are_401(sandbox, registered):
    assert api(sandbox, "na", "GET", "/api/1/vehicles", None).status_code == 401
    assert api(sandbox, "na", "GET", "/api/1/vehicles", "garbage").status_code == 401
    token = login(sandbox)["access_token"]
    assert api(sandbox, "na", "GET", "/api/1/vehicles", token).status_code == 200
    sandbox.control.advance_clock(8 * 3600 + 1)
    resp = api(sandbox, "na", "GET", "/api/1/vehicles", token)
    assert resp.status_code == 401
    assert resp.json()["error"] == "token expired (401)"


def test_cn_token_is_not_accepted_by_a_global_region(sandbox, registered):
    token = login(sandbox, server="cn", user="wei@example.cn")["access_token"]
    assert api(sandbox, "na", "GET", "/api/1/vehicles", token).status_code == 401
    assert api(sandbox, "cn", "GET", "/api/1/vehicles", token).status_code == 200


def test_partner_token_cannot_call_user_endpoints(sandbox, registered):
    resp = api(sandbox, "na", "GET", "/api/1/vehicles", partner_token(sandbox, "na"))
    assert resp.status_code == 403


def test_vehicle_list_is_paginated_by_100(sandbox, registered):
    sandbox.control.add_vehicles("nora@example.com", 150)
    token = login(sandbox, user="nora@example.com")["access_token"]
    first = api(sandbox, "na", "GET", "/api/1/vehicles", token).json()
    assert len(first["response"]) == 100
    assert first["count"] == 150
    assert first["pagination"] == {
        "previous": None,
        "next": 2,
        "current": 1,
        "per_page": 100,
        "count": 150,
        "pages": 2,
    }
    second = api(sandbox, "na", "GET", "/api/1/vehicles?page=2", token).json()
    assert len(second["response"]) == 50
    assert second["pagination"]["previous"] == 1 and second["pagination"]["next"] is None
    vins = {v["vin"] for v in first["response"]} | {v["vin"] for v in second["response"]}
    assert len(vins) == 150
    small = api(sandbox, "na", "GET", "/api/1/vehicles?per_page=40&page=4", token).json()
    assert len(small["response"]) == 30
    assert small["pagination"]["pages"] == 4


def test_vehicle_list_can_write_pagination_next_as_a_string(sandbox, registered):
    sandbox.control.add_vehicles("nora@example.com", 150)
    sandbox.control.settings(pagination_next="string")
    token = login(sandbox, user="nora@example.com")["access_token"]

    first = api(sandbox, "na", "GET", "/api/1/vehicles", token).json()
    second = api(sandbox, "na", "GET", "/api/1/vehicles?page=2", token).json()

    assert first["pagination"]["next"] == "2"
    assert second["pagination"]["next"] is None  # the last page still says null
    with pytest.raises(ControlError):
        sandbox.control.settings(pagination_next="roman")


def test_vehicle_by_id_and_vin_and_not_someone_elses(sandbox, registered):
    token = login(sandbox)["access_token"]
    listed = api(sandbox, "na", "GET", "/api/1/vehicles", token).json()["response"]
    car = next(v for v in listed if v["vin"] == ALICE_3)
    assert car["id_s"] == str(car["id"]) and car["access_type"] == "OWNER"
    by_id = api(sandbox, "na", "GET", f"/api/1/vehicles/{car['id']}", token).json()
    by_vin = api(sandbox, "na", "GET", f"/api/1/vehicles/{ALICE_3}", token).json()
    assert by_id["response"]["vin"] == by_vin["response"]["vin"] == ALICE_3
    resp = api(sandbox, "na", "GET", f"/api/1/vehicles/{ERIKA_Y}", token)
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"


def test_asleep_car_answers_408_until_woken(sandbox, registered):
    token = login(sandbox)["access_token"]
    path = f"/api/1/vehicles/{ALICE_ASLEEP}/vehicle_data"
    resp = api(sandbox, "na", "GET", path, token)
    assert resp.status_code == 408
    assert resp.json() == {
        "response": None,
        "error": "vehicle unavailable: vehicle is offline or asleep",
        "error_description": "",
        "txid": resp.json()["txid"],
    }
    woken = api(sandbox, "na", "POST", f"/api/1/vehicles/{ALICE_ASLEEP}/wake_up", token)
    assert woken.status_code == 200
    assert woken.json()["response"]["state"] == "asleep"
    sandbox.control.advance_clock(6)
    resp = api(sandbox, "na", "GET", path, token)
    assert resp.status_code == 200
    assert resp.json()["response"]["state"] == "online"
    assert "charge_state" in resp.json()["response"]


def test_offline_status_can_be_503(sandbox, registered):
    sandbox.control.settings(offline_status=503)
    sandbox.control.set_state(ALICE_3, "offline")
    token = login(sandbox)["access_token"]
    resp = api(sandbox, "na", "GET", f"/api/1/vehicles/{ALICE_3}/vehicle_data", token)
    assert resp.status_code == 503


def test_location_needs_location_data_and_vehicle_location(sandbox, registered):
    token = login(sandbox)["access_token"]
    path = f"/api/1/vehicles/{ALICE_3}/vehicle_data?endpoints=drive_state;location_data"
    drive = api(sandbox, "na", "GET", path, token).json()["response"]["drive_state"]
    assert "latitude" in drive
    no_loc = login(sandbox, scope="openid vehicle_device_data")["access_token"]
    drive = api(sandbox, "na", "GET", path, no_loc).json()["response"]["drive_state"]
    assert "latitude" not in drive


def test_fleet_status_reports_key_pairing_from_the_pairing_page(sandbox, registered):
    token = login(sandbox)["access_token"]
    body = {"vins": [ALICE_3]}
    status = api(sandbox, "na", "POST", "/api/1/vehicles/fleet_status", token, json=body).json()
    assert status["response"]["unpaired_vins"] == [ALICE_3]
    page = requests.get(
        f"{sandbox.url}/_ak/{registered.domain}", params={"vin": ALICE_3}, timeout=TIMEOUT
    )
    assert page.status_code == 200 and "Approve" in page.text
    approved = requests.post(
        f"{sandbox.url}/_ak/{registered.domain}",
        data={"vin": ALICE_3, "action": "approve"},
        timeout=TIMEOUT,
    )
    assert approved.status_code == 200
    status = api(sandbox, "na", "POST", "/api/1/vehicles/fleet_status", token, json=body).json()
    assert status["response"]["key_paired_vins"] == [ALICE_3]
    info = status["response"]["vehicle_info"][ALICE_3]
    assert info["firmware_version"] == "2025.20.6"
    assert info["fleet_telemetry_version"] == "1.0.0"
    assert info["discounted_device_data"] is False


def test_pairing_fetches_the_hosted_key_again_and_refuses_when_it_is_gone_or_another(
    sandbox, registered
):
    """The key "must be and remain hosted" (§3.1): a deploy that stops serving it, or serves
    another key, leaves every car unpaired with the app's "has not registered" message."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    token = login(sandbox)["access_token"]
    page_url = f"{sandbox.url}/_ak/{registered.domain}"
    hosted = registered.pem
    other = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for served, reason in ((None, "HTTP 404"), (other, "not the key registered")):
        registered.pem = served
        page = requests.get(page_url, params={"vin": ALICE_3}, timeout=TIMEOUT)
        assert page.status_code == 400
        assert f"{registered.domain} application has not registered." in page.text
        assert reason in page.text and "Approve" not in page.text
        approved = requests.post(page_url, data={"vin": ALICE_3}, timeout=TIMEOUT)
        assert approved.status_code == 400
        body = {"vins": [ALICE_3]}
        status = api(sandbox, "na", "POST", "/api/1/vehicles/fleet_status", token, json=body)
        assert status.json()["response"]["unpaired_vins"] == [ALICE_3]
    registered.pem = hosted
    assert requests.post(page_url, data={"vin": ALICE_3}, timeout=TIMEOUT).status_code == 200


def test_pairing_an_asleep_car_is_refused(sandbox, registered):
    resp = requests.post(
        f"{sandbox.url}/_ak/{registered.domain}", data={"vin": ALICE_ASLEEP}, timeout=TIMEOUT
    )
    assert resp.status_code == 409


def test_unknown_fleet_path_and_method_answer_in_the_envelope(sandbox):
    missing = api(sandbox, "na", "GET", "/api/1/nothing_here", None)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found" and missing.json()["response"] is None
    wrong = api(sandbox, "na", "PUT", "/api/1/vehicles", None)
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "invalid_method"
    assert api(sandbox, "xx", "GET", "/status", None).status_code == 404


def test_products_lists_the_callers_vehicles_with_command_signing(sandbox, registered):
    """Teslemetry's client calls /products first (§4.2): the user's vehicles, each with
    command_signing, and nothing of another user's."""
    token = login(sandbox)["access_token"]
    resp = api(sandbox, "na", "GET", "/api/1/products", token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    listed = api(sandbox, "na", "GET", "/api/1/vehicles", token).json()["response"]
    assert [p["vin"] for p in body["response"]] == [v["vin"] for v in listed]
    assert body["count"] == len(listed)
    signing = {p["vin"]: p["command_signing"] for p in body["response"]}
    assert signing[ALICE_3] == "required"
    assert signing["5YJSA1E26KF000003"] == "off"  # legacy hardware: REST commands
    assert ERIKA_Y not in signing
    for product in body["response"]:
        assert {"id", "id_s", "vehicle_id", "vin", "state", "access_type"} <= set(product)
    # A partner token or no scope is refused like the vehicle list.
    assert api(sandbox, "na", "GET", "/api/1/products", partner_token(sandbox)).status_code == 403
    bare = login(sandbox, scope="openid offline_access")["access_token"]
    assert api(sandbox, "na", "GET", "/api/1/products", bare).status_code == 403
