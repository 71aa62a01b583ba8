"""Telemetry config push via JWS, pickup, rejection, delete (§5.2-5.7)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.testing import ControlError
from sandbox.tests.helpers import (
    REDIRECT,
    KeyServer,
    api,
    login,
    partner_token,
    register_partner,
    telemetry_config,
)
from teslafleet.jws import sign

PAIRED = "5YJ3E1EA7PF000001"
ASLEEP = "7SAYGDEE9RF000002"
LEGACY = "5YJSA1E26KF000003"
OLD_FIRMWARE = "5YJXCBE20NF000004"
DRIVER_CAR = "5YJ3E1EB5NF000005"
JWS_PATH = "/api/1/vehicles/fleet_telemetry_config_jws"


def _push(sandbox, token, vins, jws):
    return api(sandbox, "na", "POST", JWS_PATH, token, json={"vins": vins, "token": jws})


def _get(sandbox, token, vin):
    resp = api(sandbox, "na", "GET", f"/api/1/vehicles/{vin}/fleet_telemetry_config", token)
    assert resp.status_code == 200, resp.text
    return resp.json()["response"]


def test_push_reports_skip_reasons_per_vin(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    jws = sign(registered.private_key, telemetry_config())
    resp = _push(sandbox, token, [PAIRED, ASLEEP, LEGACY, OLD_FIRMWARE], jws)
    assert resp.status_code == 200, resp.text
    assert resp.json()["response"] == {
        "updated_vehicles": 1,
        "skipped_vehicles": {
            "missing_key": [ASLEEP],
            "unsupported_hardware": [LEGACY],
            "unsupported_firmware": [OLD_FIRMWARE],
            "max_configs": [],
        },
    }


def test_car_full_of_other_apps_configs_is_skipped_max_configs(sandbox, registered):
    sandbox.control.settings(max_configs=1)
    # A second app with its own key, registered and paired, fills the car's only slot.
    other = sandbox.control.register_client(
        server="global", redirect_uris=[REDIRECT], allowed_origins=["127.0.0.1"]
    )
    with KeyServer.running() as other_server:
        token = partner_token(sandbox, "na", creds=other)
        assert register_partner(sandbox, other_server.domain, "na", token=token).status_code == 200
    sandbox.control.pair(PAIRED, other_server.domain)
    sandbox.control.pair(PAIRED, registered.domain)
    other_user = login(sandbox, creds=other)["access_token"]
    first = _push(sandbox, other_user, [PAIRED], sign(other_server.private_key, telemetry_config()))
    assert first.json()["response"]["updated_vehicles"] == 1

    token = login(sandbox)["access_token"]
    resp = _push(sandbox, token, [PAIRED], sign(registered.private_key, telemetry_config()))
    assert resp.json()["response"]["updated_vehicles"] == 0
    assert resp.json()["response"]["skipped_vehicles"]["max_configs"] == [PAIRED]
    assert _get(sandbox, token, PAIRED)["limit_reached"] is True


def test_driver_access_is_vin_not_found(sandbox, registered):
    sandbox.control.pair(DRIVER_CAR, registered.domain)
    token = login(sandbox, user="bob@example.com")["access_token"]
    resp = _push(sandbox, token, [DRIVER_CAR], sign(registered.private_key, telemetry_config()))
    assert resp.status_code == 404
    assert resp.json()["error"] == f"{DRIVER_CAR} not_found"


def test_invalid_jws_is_rejected(sandbox, registered):
    token = login(sandbox)["access_token"]
    jws = sign(registered.private_key, telemetry_config())
    header, payload, signature = jws.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    for bad in (tampered, "not-a-jws", f"{header}.{payload}"):
        resp = _push(sandbox, token, [PAIRED], bad)
        assert resp.status_code == 400, bad
        assert resp.json()["error"] == "invalid_jws"


def test_config_is_unsynced_until_the_online_car_picks_it_up(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    _push(sandbox, token, [PAIRED], sign(registered.private_key, telemetry_config()))
    pending = _get(sandbox, token, PAIRED)
    assert pending["synced"] is False
    assert pending["config"]["hostname"] == "127.0.0.1"
    assert pending["config"]["aud"] == "com.tesla.fleet.TelemetryClient"
    assert pending["key_paired"] is True and pending["limit_reached"] is False
    sandbox.control.advance_clock(61)
    synced = _get(sandbox, token, PAIRED)
    assert synced["synced"] is True
    assert synced["config"]["iss"] == pending["config"]["iss"]


def test_offline_car_waits_and_control_pickup_forces_sync(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    sandbox.control.set_state(PAIRED, "offline")
    token = login(sandbox)["access_token"]
    _push(sandbox, token, [PAIRED], sign(registered.private_key, telemetry_config()))
    sandbox.control.advance_clock(3600)
    assert _get(sandbox, token, PAIRED)["synced"] is False
    assert sandbox.control.telemetry_pickup(PAIRED) != []
    assert _get(sandbox, token, PAIRED)["synced"] is True


def test_config_signed_with_another_key_is_rejected_by_the_car(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    stranger = ec.generate_private_key(ec.SECP256R1())
    resp = _push(sandbox, token, [PAIRED], sign(stranger, telemetry_config()))
    assert resp.json()["response"]["updated_vehicles"] == 1  # accepted at submission
    sandbox.control.telemetry_pickup(PAIRED)
    state = _get(sandbox, token, PAIRED)
    assert state["synced"] is True and state["config"] is None
    errors = api(
        sandbox, "na", "GET", f"/api/1/vehicles/{PAIRED}/fleet_telemetry_errors", token
    ).json()["response"]["fleet_telemetry_errors"]
    assert len(errors) == 1
    error = errors[0]
    assert error["error"] == "error loading config file: InvalidSignature: unknown issuer"
    assert error["error_name"] == "config_manager_error"
    assert error["vin"] == PAIRED and error["txID"] and error["created_at"]
    partner = partner_token(sandbox, "na")
    listed = api(sandbox, "na", "GET", "/api/1/partner_accounts/fleet_telemetry_errors", partner)
    assert listed.json()["response"]["fleet_telemetry_errors"] == errors
    assert error["name"] == listed.json()["response"]["fleet_telemetry_errors"][0]["name"]
    vins = api(sandbox, "na", "GET", "/api/1/partner_accounts/fleet_telemetry_error_vins", partner)
    assert vins.status_code == 200
    assert vins.json()["response"] == {"fleet_telemetry_error_vins": [PAIRED]}
    # Another region's partner view lists none; a user token is refused (partner endpoint).
    eu = api(
        sandbox,
        "eu",
        "GET",
        "/api/1/partner_accounts/fleet_telemetry_error_vins",
        partner_token(sandbox, "eu"),
    )
    assert eu.json()["response"] == {"fleet_telemetry_error_vins": []}
    refused = api(sandbox, "na", "GET", "/api/1/partner_accounts/fleet_telemetry_error_vins", token)
    assert refused.status_code == 403


def test_delete_removes_the_config(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    _push(sandbox, token, [PAIRED], sign(registered.private_key, telemetry_config()))
    path = f"/api/1/vehicles/{PAIRED}/fleet_telemetry_config"
    resp = api(sandbox, "na", "DELETE", path, token)
    assert resp.json()["response"] == {"updated_vehicles": 1}
    assert _get(sandbox, token, PAIRED)["config"] is None


def test_direct_config_post_is_412(sandbox, registered):
    token = login(sandbox)["access_token"]
    resp = api(
        sandbox,
        "na",
        "POST",
        "/api/1/vehicles/fleet_telemetry_config",
        token,
        json={"vins": [PAIRED], "config": telemetry_config()},
    )
    assert resp.status_code == 412
    assert resp.json()["error"] == (
        "Refer to https://developer.tesla.com/docs/fleet-api/fleet-telemetry for instructions "
        "setting up fleet-telemetry."
    )


def test_direct_config_post_in_china_points_at_tesla_cn(sandbox, registered):
    token = login(sandbox, server="cn", user="wei@example.cn")["access_token"]
    resp = api(sandbox, "cn", "POST", "/api/1/vehicles/fleet_telemetry_config", token, json={})
    assert resp.status_code == 412
    assert "https://developer.tesla.cn/docs/fleet-api/fleet-telemetry" in resp.json()["error"]


def test_bad_config_and_location_fields_without_scope(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    bad = sign(registered.private_key, telemetry_config(port="4443", hostname="evil.example"))
    resp = _push(sandbox, token, [PAIRED], bad)
    assert resp.status_code == 400
    assert "hostname" in resp.json()["error_description"]
    assert "port" in resp.json()["error_description"]
    no_loc = login(sandbox, scope="openid vehicle_device_data")["access_token"]
    located = telemetry_config(fields={"Location": {"interval_seconds": 10}})
    resp = _push(sandbox, no_loc, [PAIRED], sign(registered.private_key, located))
    assert resp.status_code == 403


def test_consent_revocation_removes_configs_and_keys(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    _push(sandbox, token, [PAIRED], sign(registered.private_key, telemetry_config()))
    client_id = sandbox.demo_clients["global"]["client_id"]
    result = sandbox.control.revoke_consent("alice@example.com", client_id)
    assert result["removed_configs"] == 1
    fresh = login(sandbox)["access_token"]
    state = _get(sandbox, fresh, PAIRED)
    assert state["config"] is None and state["key_paired"] is False


def test_partner_token_can_delete_a_config_on_any_car(sandbox, registered):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    _push(sandbox, token, [PAIRED], sign(registered.private_key, telemetry_config()))
    path = f"/api/1/vehicles/{PAIRED}/fleet_telemetry_config"
    resp = api(sandbox, "na", "DELETE", path, partner_token(sandbox, "na"))
    assert resp.json()["response"] == {"updated_vehicles": 1}
    again = api(sandbox, "na", "DELETE", path, partner_token(sandbox, "na"))
    assert again.json()["response"] == {"updated_vehicles": 0}


def test_a_repeated_push_reuses_the_verified_claims_and_tampering_still_fails(sandbox, registered):
    from sandbox.fleet import _verify_cached

    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    config = telemetry_config()
    jws = sign(registered.private_key, config)
    hits = _verify_cached.cache_info().hits
    for _ in range(2):
        resp = _push(sandbox, token, [PAIRED], jws)
        assert resp.status_code == 200, resp.text
        assert resp.json()["response"]["updated_vehicles"] == 1
    assert _verify_cached.cache_info().hits > hits  # the second push was not re-verified
    shown = _get(sandbox, token, PAIRED)["config"]
    assert shown["fields"] == config["fields"] and shown["hostname"] == config["hostname"]
    # The world holds a copy: changing it cannot leak into the next push's claims.
    with sandbox.world.read() as data:
        (record,) = data["vehicles"][PAIRED]["telemetry"].values()
    assert record["config"] == _verify_cached(jws)
    assert record["config"] is not _verify_cached(jws)

    # Same signature, other claims: the cache is keyed by the whole token, so it re-verifies.
    header, _, signature = jws.split(".")
    other_payload = sign(registered.private_key, telemetry_config(port=4444)).split(".")[1]
    resp = _push(sandbox, token, [PAIRED], f"{header}.{other_payload}.{signature}")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_jws"


def test_bearer_is_checked_before_the_jws(sandbox, registered):
    for bearer in (None, "not-a-token"):
        resp = _push(sandbox, bearer, [PAIRED], "not-a-jws")
        assert resp.status_code == 401, resp.text


# -- firmware: client versions, older clients, Intel Atom S/X (§3.4, §3.5, §5.5) ---------------


def _info(sandbox, token, vin):
    body = {"vins": [vin]}
    resp = api(sandbox, "na", "POST", "/api/1/vehicles/fleet_status", token, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["response"]["vehicle_info"][vin]


def test_fleet_status_reports_the_client_version_of_the_cars_firmware(sandbox, registered):
    token = login(sandbox)["access_token"]
    expected = {
        "2024.8.9": None,  # below 2024.26: no streaming at all
        "2024.26.3": "0.9.0",
        "2024.45.32.1": "0.9.0",
        "2024.45.32.20": "1.0.0",  # the 2024.45 branch's 1.0.0
        "2025.2.5": "0.9.0",
        "2025.2.6": "1.0.0",
        "2025.44.25.4": "1.0.0",
        "2025.44.25.5": "1.2.0",
        "2026.2.1": "1.2.0",
    }
    seen = {}
    for version in expected:
        sandbox.control.set_firmware(PAIRED, version)
        info = _info(sandbox, token, PAIRED)
        assert info["firmware_version"] == version
        assert "safety_screen_streaming_toggle_enabled" not in info
        seen[version] = info["fleet_telemetry_version"]
    assert seen == expected


def test_a_car_on_an_older_client_refuses_delivery_policy_and_location_minimum_delta(
    sandbox, registered
):
    sandbox.control.pair(PAIRED, registered.domain)
    token = login(sandbox)["access_token"]
    configs = {
        "delivery_policy": telemetry_config(delivery_policy="latest"),
        "Location.minimum_delta": telemetry_config(
            fields={"Location": {"interval_seconds": 10, "minimum_delta": 100}}
        ),
    }
    for firmware_version, refused in (("2024.38.7", True), ("2025.2.6", False)):
        sandbox.control.set_firmware(PAIRED, firmware_version)
        for feature, config in configs.items():
            resp = _push(sandbox, token, [PAIRED], sign(registered.private_key, config))
            assert resp.json()["response"]["updated_vehicles"] == 1  # accepted at submission
            sandbox.control.telemetry_pickup(PAIRED)
            state = _get(sandbox, token, PAIRED)
            assert state["synced"] is True
            errors = api(
                sandbox, "na", "GET", f"/api/1/vehicles/{PAIRED}/fleet_telemetry_errors", token
            ).json()["response"]["fleet_telemetry_errors"]
            if refused:
                assert state["config"] is None, (firmware_version, feature)
                assert errors[-1]["error"] == (
                    f"error loading config file: {feature} needs Fleet Telemetry client 1.0.0, "
                    "vehicle runs 0.9.0"
                )
            else:
                assert state["config"]["fields"] == config["fields"], feature
    # The same older car takes a config without either.
    sandbox.control.set_firmware(PAIRED, "2024.38.7")
    plain = sign(registered.private_key, telemetry_config())
    assert _push(sandbox, token, [PAIRED], plain).json()["response"]["updated_vehicles"] == 1
    sandbox.control.telemetry_pickup(PAIRED)
    assert _get(sandbox, token, PAIRED)["config"] is not None


def test_intel_atom_model_s_streams_from_2025_20_once_the_owner_allows_it_without_a_key(
    sandbox, registered
):
    token = login(sandbox)["access_token"]
    [atom] = sandbox.control.add_vehicles(
        "alice@example.com",
        1,
        model="Model S",
        year=2019,
        firmware="2025.20.6",
        legacy_hardware=True,
    )
    jws = sign(registered.private_key, telemetry_config())
    # Older Atom firmware: hardware unsupported, and no toggle reported.
    old = _info(sandbox, token, LEGACY)
    assert old["fleet_telemetry_version"] is None
    assert "safety_screen_streaming_toggle_enabled" not in old
    info = _info(sandbox, token, atom)
    assert info["safety_screen_streaming_toggle_enabled"] is False
    assert info["fleet_telemetry_version"] is None
    assert info["vehicle_command_protocol_required"] is False
    skipped = _push(sandbox, token, [atom, LEGACY], jws).json()["response"]["skipped_vehicles"]
    assert skipped["missing_key"] == [atom] and skipped["unsupported_hardware"] == [LEGACY]

    sandbox.control.safety_screen_streaming(atom, True)
    info = _info(sandbox, token, atom)
    assert info["safety_screen_streaming_toggle_enabled"] is True
    assert info["fleet_telemetry_version"] == "1.0.0"
    resp = _push(sandbox, token, [atom], jws).json()["response"]
    assert resp["updated_vehicles"] == 1  # no virtual key needed
    sandbox.control.telemetry_pickup(atom)
    assert _get(sandbox, token, atom)["config"]["fields"] == telemetry_config()["fields"]
    # Only Atom cars have the toggle.
    with pytest.raises(ControlError, match="not an Intel Atom"):
        sandbox.control.safety_screen_streaming(PAIRED, True)
