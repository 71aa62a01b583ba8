"""`vehicle_data` sub-objects over HTTP: Tesla's documented keys, the endpoints names, location
only with location_data and vehicle_location, and values that agree with the simulated car.

The key lists are Tesla's documented example (§4.2), held in sandbox/vehicle_data_keys.json;
a builder that drops a key fails here.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from sandbox.testing import SandboxHandle, recording, running_sandbox
from sandbox.tests.helpers import KeyServer, api, login, register_partner

ALICE_3 = "5YJ3E1EA7PF000001"  # Model 3, NA, fw 2025.20.6
OLD_S = "5YJSA1E26KF000003"  # Model S 2019, legacy (Intel Atom) hardware
ERIKA_Y = "XP7YGCEK0PB000006"  # Model Y, EU
BROKER = "mqtt://127.0.0.1:1883"
KEYS = json.loads((Path(__file__).parents[1] / "vehicle_data_keys.json").read_text())
DOCUMENTED = KEYS["documented"]
NEWER = KEYS["newer"]
LOCATION = KEYS["location"]
EVERYTHING = ";".join([*DOCUMENTED, *NEWER, "location_data"])


def _data(sb: SandboxHandle, vin: str, endpoints: str | None, token: str, region: str = "na"):
    path = f"/api/1/vehicles/{vin}/vehicle_data"
    if endpoints is not None:
        path += f"?endpoints={endpoints}"
    resp = api(sb, region, "GET", path, token)
    assert resp.status_code == 200, resp.text
    return resp.json()["response"]


def test_the_documented_key_lists_are_tesla_s_example():
    # The counts of Tesla's 2023 example (issue 17): a list that lost a key fails here.
    counts = {name: len(keys) for name, keys in DOCUMENTED.items()}
    assert counts == {
        "charge_state": 53,
        "climate_state": 39,
        "drive_state": 15,
        "gui_settings": 8,
        "vehicle_config": 45,
        "vehicle_state": 66,
    }
    assert all(len(set(keys)) == len(keys) for keys in DOCUMENTED.values())


@pytest.mark.parametrize("name", [*DOCUMENTED, *NEWER])
def test_each_object_has_every_key_with_location(sandbox, registered, name):
    token = login(sandbox)["access_token"]
    body = _data(sandbox, ALICE_3, f"{name};location_data", token)
    keys = (DOCUMENTED | NEWER)[name]
    assert sorted(body[name]) == sorted(keys)
    assert body[name]["timestamp"] > 0


def test_schedules_have_their_entry_keys(sandbox, registered):
    token = login(sandbox)["access_token"]
    body = _data(sandbox, ALICE_3, EVERYTHING, token)
    (charge,) = body["charge_schedule_data"]["charge_schedules"]
    (precondition,) = body["preconditioning_schedule_data"]["precondition_schedules"]
    assert sorted(charge) == KEYS["charge_schedule"]
    assert sorted(precondition) == KEYS["precondition_schedule"]


def test_no_endpoints_answers_the_documented_six_without_location(sandbox, registered):
    token = login(sandbox)["access_token"]
    body = _data(sandbox, ALICE_3, None, token)
    assert set(body) & set(DOCUMENTED) == set(DOCUMENTED)
    assert not set(body) & set(NEWER)
    assert "latitude" not in body["drive_state"]
    assert body["vin"] == ALICE_3 and isinstance(body["user_id"], int)


def test_vehicle_data_combo_is_the_documented_six(sandbox, registered):
    token = login(sandbox)["access_token"]
    combo = _data(sandbox, ALICE_3, "vehicle_data_combo", token)
    plain = _data(sandbox, ALICE_3, None, token)
    assert set(combo) == set(plain)
    assert "latitude" not in combo["drive_state"]
    with_location = _data(sandbox, ALICE_3, "vehicle_data_combo;location_data", token)
    assert with_location["drive_state"]["latitude"] == pytest.approx(37.49, abs=0.1)


@pytest.mark.parametrize("name", [*NEWER])
def test_newer_objects_only_when_named(sandbox, registered, name):
    token = login(sandbox)["access_token"]
    body = _data(sandbox, ALICE_3, name, token)
    assert name in body
    others = set(DOCUMENTED) | set(NEWER) - {name}
    assert not others & set(body)


def test_location_data_alone_answers_drive_state_with_location(sandbox, registered):
    token = login(sandbox)["access_token"]
    drive = _data(sandbox, ALICE_3, "location_data", token)["drive_state"]
    assert sorted(drive) == sorted(DOCUMENTED["drive_state"])


def test_every_location_key_needs_location_data_and_the_scope(sandbox, registered):
    with_scope = login(sandbox)["access_token"]
    without = login(sandbox, scope="openid vehicle_device_data")["access_token"]
    for token, endpoints in ((with_scope, EVERYTHING.replace(";location_data", "")),
                             (without, EVERYTHING)):  # fmt: skip
        body = _data(sandbox, ALICE_3, endpoints, token)
        for name in ("drive_state", "vehicle_state"):
            assert not set(LOCATION[name]) & set(body[name]), name
            assert sorted(body[name]) == sorted(set(DOCUMENTED[name]) - set(LOCATION[name]))
        for entry in (
            *body["charge_schedule_data"]["charge_schedules"],
            *body["preconditioning_schedule_data"]["precondition_schedules"],
        ):
            assert "latitude" not in entry and "longitude" not in entry
        assert "latitude" not in json.dumps(body)


def test_a_parked_car_without_the_stream_is_unplugged_and_still(sandbox, registered):
    token = login(sandbox)["access_token"]
    body = _data(sandbox, ALICE_3, EVERYTHING, token)
    _assert_parked(body)
    assert body["vehicle_state"]["car_version"].startswith("2025.20.6 ")
    assert body["vehicle_state"]["vehicle_name"] == "Alice's Model 3"


def test_vehicle_config_follows_model_hardware_and_region(sandbox, registered):
    token = login(sandbox)["access_token"]
    model3 = _data(sandbox, ALICE_3, "vehicle_config;gui_settings", token)
    old_s = _data(sandbox, OLD_S, "vehicle_config", token)["vehicle_config"]
    assert model3["vehicle_config"]["car_type"] == "model3"
    assert model3["vehicle_config"]["eu_vehicle"] is False
    assert model3["gui_settings"]["gui_distance_units"] == "mi/hr"
    assert old_s["car_type"] == "models2"  # the pre-2021 S
    assert old_s["has_air_suspension"] is True
    erika = login(sandbox, user="erika@example.de")["access_token"]
    berlin = _data(sandbox, ERIKA_Y, "vehicle_config;gui_settings", erika, region="eu")
    assert berlin["vehicle_config"]["car_type"] == "modely"
    assert berlin["vehicle_config"]["eu_vehicle"] is True
    assert berlin["gui_settings"]["gui_temperature_units"] == "C"


# -- with the stream: the polled car is the simulated car -------------------------------------


def _assert_parked(body: dict) -> None:
    charge, drive = body["charge_state"], body["drive_state"]
    assert charge["charging_state"] == "Disconnected"
    assert charge["charger_power"] == charge["charger_voltage"] == 0
    assert charge["charger_actual_current"] == 0
    assert charge["charge_port_door_open"] is False
    assert charge["charge_port_latch"] == "Disengaged"
    assert charge["conn_charge_cable"] == "<invalid>"
    assert charge["time_to_full_charge"] == charge["minutes_to_full_charge"] == 0
    assert drive["shift_state"] == "P" and drive["speed"] is None and drive["power"] == 0


def _assert_charging(body: dict) -> None:
    charge, drive = body["charge_state"], body["drive_state"]
    assert charge["charger_power"] > 0
    volts, amps = charge["charger_voltage"], charge["charger_actual_current"]
    assert volts > 0 and amps > 0
    assert volts * amps / 1000 == pytest.approx(charge["charger_power"], abs=1)
    assert charge["charge_port_door_open"] is True
    assert charge["charge_port_latch"] == "Engaged"
    assert charge["conn_charge_cable"] == "SAE"
    assert charge["time_to_full_charge"] > 0
    assert charge["minutes_to_full_charge"] == round(charge["time_to_full_charge"] * 60)
    assert charge["battery_level"] < charge["charge_limit_soc"] + 1
    assert charge["charge_energy_added"] >= 0
    assert charge["fast_charger_present"] is (charge["fast_charger_type"] == "Supercharger")
    assert drive["power"] == -charge["charger_power"]
    assert drive["shift_state"] == "P" and drive["speed"] is None
    assert body["closures_state"]["center_display_state"] == 3


def _poll(sb, token: str, until, timeout: float = 40.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        body = _data(sb, ALICE_3, EVERYTHING, token)
        seen.add(body["charge_state"]["charging_state"])
        if until(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"the car never got there; charging states seen: {seen}")


def test_polled_data_follows_the_simulated_car_through_a_drive_and_a_charge():
    base = f"fp-test-{uuid.uuid4().hex[:8]}"
    with (
        recording(base),
        running_sandbox(mqtt_url=BROKER, topic_base=base, time_scale=600) as sb,
    ):
        sb.control.settings(stream_sleep_after=0)  # no naps in the middle of the test
        sb.control.install_telemetry_config([ALICE_3], {"Odometer": {"interval_seconds": 60}})
        with KeyServer.running() as keys:
            assert register_partner(sb, keys.domain, "na").status_code == 200
        token = login(sb)["access_token"]

        # Moving (the drive starts from standstill): speed and power together.
        driving = _poll(sb, token, lambda b: (b["drive_state"]["speed"] or 0) > 0)
        drive = driving["drive_state"]
        assert drive["shift_state"] == "D" and drive["power"] > 0
        assert driving["climate_state"]["is_climate_on"] is True
        assert driving["vehicle_state"]["is_user_present"] is True
        assert driving["charge_state"]["charging_state"] == "Disconnected"

        charging = _poll(sb, token, lambda b: b["charge_state"]["charging_state"] == "Charging")
        _assert_charging(charging)
        assert charging["vehicle_state"]["odometer"] >= driving["vehicle_state"]["odometer"]

        parked = _poll(sb, token, lambda b: b["charge_state"]["charging_state"] == "Disconnected")
        _assert_parked(parked)
        assert parked["charge_state"]["battery_level"] >= 79  # charged to the 80 % limit
        assert parked["charge_state"]["charge_energy_added"] > 0  # kept until the next session
