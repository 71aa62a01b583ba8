"""The sub-objects of `GET /api/1/vehicles/{tag}/vehicle_data` (§4.2).

Keys follow Tesla's documented example
(https://developer.tesla.com/docs/fleet-api/endpoints/vehicle-endpoints#vehicle-data), copied
into `vehicle_data_keys.json` with the keys of the objects newer firmware adds. Values are
the sandbox's, and tell the story of the streaming simulation (sandbox/stream.py) when it
runs: a charging car has charger power, volts and amps, an open and latched port; a driving
car has a speed, gear D and draws power. Units are the legacy owner API's (miles, mph,
Celsius) whatever the GUI settings say (§4.2 note).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app

from sandbox import stream

KEYS: dict[str, Any] = json.loads((Path(__file__).with_name("vehicle_data_keys.json")).read_text())

# What `vehicle_data` answers without `endpoints`, and what `vehicle_data_combo` stands for:
# the six objects of Tesla's documented example, never location (fw 2023.38+ needs
# location_data for it). The newer objects only when named (stricter; README).
COMBO = ("charge_state", "climate_state", "drive_state", "gui_settings")
COMBO += ("vehicle_config", "vehicle_state")

# Fixed demo values when the stream does not run: a parked car, unplugged.
PARKED = {
    "phase": "parked",
    "battery_level": 72,
    "usable_battery_level": 71,
    "battery_range": 223.2,
    "est_battery_range": 208.8,
    "ideal_battery_range": 237.6,
    "charge_limit_soc": stream.CHARGE_LIMIT,
    "charging_state": "Disconnected",
    "charger_power": 0,
    "charger_voltage": 0,
    "charge_amps": 0,
    "fast_charger": False,
    "fast_charger_present": False,
    "charge_port_door_open": False,
    "charge_energy_added": 0.0,
    "time_to_full_charge": 0.0,
    "odometer": 12345.6,
    "shift_state": "P",
    "speed": None,
    "heading": 90,
    "inside_temp": 23.5,
    "outside_temp": 14.0,
    "locked": True,
    "driver_door_open": False,
    "sentry_mode": True,
}


def requested(endpoints: str) -> tuple[list[str], bool]:
    """The sub-objects to answer with, and whether location_data was asked for.

    `location_data` adds location to drive_state (and answers drive_state even if not
    named: a client asking for the car's position gets it); unknown names are ignored.
    """
    names = [n.strip() for n in endpoints.split(";") if n.strip()]
    location = "location_data" in names
    if not names or "vehicle_data_combo" in names:
        names += COMBO
    if location:
        names.append("drive_state")
    return [n for n in dict.fromkeys(names) if n in BUILDERS], location


def build(vehicle: dict[str, Any], names: list[str], *, location: bool, now: float) -> dict:
    """The sub-objects `names` of the car now; location keys only when `location`."""
    car = {**PARKED, **_home(vehicle), **_live(vehicle)}
    ts = int(now * 1000)
    body = {}
    for name in names:
        obj = BUILDERS[name](vehicle, car, ts)
        if not location:
            for key in KEYS["location"].get(name, ()):
                obj.pop(key, None)
            _strip_schedule_location(obj)
        body[name] = obj
    return body


def _live(vehicle: dict[str, Any]) -> dict[str, Any]:
    """What the streaming simulation says about the car, if it runs."""
    publisher = current_app.extensions.get("sandbox_stream")
    return (publisher.live(vehicle["vin"]) if publisher else None) or {}


def _home(vehicle: dict[str, Any]) -> dict[str, Any]:
    lat, lon = stream.CITIES.get(vehicle["region"], stream.CITIES["NA"])
    return {"latitude": lat, "longitude": lon, "home": (lat, lon)}


def _strip_schedule_location(obj: dict[str, Any]) -> None:
    for key in ("charge_schedules", "precondition_schedules"):
        for entry in obj.get(key, ()):
            entry.pop("latitude", None)
            entry.pop("longitude", None)


def _plugged(car: dict[str, Any]) -> bool:
    return car["phase"] in ("charging", "complete")


def _charging(car: dict[str, Any]) -> bool:
    return car["phase"] == "charging"


# -- the documented objects ---------------------------------------------------------------


def charge_state(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    plugged, charging, dc = _plugged(car), _charging(car), car["fast_charger"]
    volts = car["charger_voltage"] if charging else 0
    # Amps follow power and volts (Tesla's charger_power is kW, rounded).
    amps = round(car["charger_power"] * 1000 / volts) if charging and volts else 0
    hours = car["time_to_full_charge"] if charging else 0.0
    rated_added = round(car["charge_energy_added"] * 1000 / stream.WH_PER_MILE, 1)
    cable = {"NA": "SAE", "EU": "IEC", "CN": "GB_DC" if dc else "GB_AC"}.get(v["region"], "SAE")
    if plugged and dc:
        charger_type, brand = "Supercharger", "Tesla"
    elif plugged:
        charger_type, brand = "ACSingleWireCAN", "<invalid>"
    else:
        charger_type, brand = "<invalid>", "<invalid>"
    return {
        "battery_heater_on": False,
        "battery_level": car["battery_level"],
        "battery_range": car["battery_range"],
        "charge_amps": car["charge_amps"],
        "charge_current_request": 48,
        "charge_current_request_max": 48,
        "charge_enable_request": True,
        "charge_energy_added": car["charge_energy_added"],
        "charge_limit_soc": car["charge_limit_soc"],
        "charge_limit_soc_max": 100,
        "charge_limit_soc_min": 50,
        "charge_limit_soc_std": 90,
        "charge_miles_added_ideal": round(rated_added * 3.3 / 3.1, 1),
        "charge_miles_added_rated": rated_added,
        "charge_port_cold_weather_mode": False,
        "charge_port_color": {"charging": "FlashingGreen", "complete": "Green"}.get(
            car["phase"], "Off"
        ),
        "charge_port_door_open": car["charge_port_door_open"],
        "charge_port_latch": "Engaged" if plugged else "Disengaged",
        "charge_rate": round(car["charger_power"] * 1000 / stream.WH_PER_MILE, 1)
        if charging
        else 0.0,
        "charger_actual_current": amps,
        "charger_phases": 1 if plugged and not dc else None,
        "charger_pilot_current": 48 if plugged and not dc else 0,
        "charger_power": car["charger_power"] if charging else 0,
        "charger_voltage": volts,
        "charging_state": car["charging_state"],
        "conn_charge_cable": cable if plugged else "<invalid>",
        "est_battery_range": car["est_battery_range"],
        "fast_charger_brand": brand,
        "fast_charger_present": car["fast_charger_present"],
        "fast_charger_type": charger_type,
        "ideal_battery_range": car["ideal_battery_range"],
        "managed_charging_active": False,
        "managed_charging_start_time": None,
        "managed_charging_user_canceled": False,
        "max_range_charge_counter": 0,
        "minutes_to_full_charge": round(hours * 60),
        "not_enough_power_to_heat": None,
        "off_peak_charging_enabled": False,
        "off_peak_charging_times": "all_week",
        "off_peak_hours_end_time": 360,
        "preconditioning_enabled": False,
        "preconditioning_times": "all_week",
        "scheduled_charging_mode": "Off",
        "scheduled_charging_pending": False,
        "scheduled_charging_start_time": None,
        "scheduled_departure_time": None,
        "scheduled_departure_time_minutes": 480,
        "supercharger_session_trip_planner": False,
        "time_to_full_charge": hours,
        "timestamp": ts,
        "trip_charging": False,
        "usable_battery_level": car["usable_battery_level"],
        "user_charge_enable_request": None,
    }


def climate_state(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    # The cabin is conditioned while someone drives (the stream's InsideTemp agrees).
    on = car["phase"] == "driving"
    return {
        "allow_cabin_overheat_protection": True,
        "auto_seat_climate_left": on,
        "auto_seat_climate_right": on,
        "auto_steering_wheel_heat": False,
        "battery_heater": False,
        "battery_heater_no_power": None,
        "bioweapon_mode": False,
        "cabin_overheat_protection": "On",
        "cabin_overheat_protection_actively_cooling": False,
        "climate_keeper_mode": "off",
        "cop_activation_temperature": "High",
        "defrost_mode": 0,
        "driver_temp_setting": 21.0,
        "fan_status": 3 if on else 0,
        "hvac_auto_request": "On",
        "inside_temp": car["inside_temp"],
        "is_auto_conditioning_on": on,
        "is_climate_on": on,
        "is_front_defroster_on": False,
        "is_preconditioning": False,
        "is_rear_defroster_on": False,
        "left_temp_direction": 0,
        "max_avail_temp": 28.0,
        "min_avail_temp": 15.0,
        "outside_temp": car["outside_temp"],
        "passenger_temp_setting": 21.0,
        "remote_heater_control_enabled": False,
        "right_temp_direction": 0,
        "seat_heater_left": 0,
        "seat_heater_rear_center": 0,
        "seat_heater_rear_left": 0,
        "seat_heater_rear_right": 0,
        "seat_heater_right": 0,
        "side_mirror_heaters": False,
        "steering_wheel_heat_level": 0,
        "steering_wheel_heater": False,
        "supports_fan_only_cabin_overheat_protection": True,
        "timestamp": ts,
        "wiper_blade_heater": False,
    }


def drive_state(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    driving = car["phase"] == "driving"
    if driving:  # kW out of the pack at 250 Wh/mi
        power = round((car["speed"] or 0) * stream.WH_PER_MILE / 1000)
    elif _charging(car):  # Tesla reports charging as negative power
        power = -car["charger_power"]
    else:
        power = 0
    home_lat, home_lon = car["home"]
    return {
        "active_route_latitude": home_lat,  # the drives loop back home
        "active_route_longitude": home_lon,
        "active_route_traffic_minutes_delay": 0.0,
        "gps_as_of": ts // 1000,
        "heading": car["heading"],
        "latitude": car["latitude"],
        "longitude": car["longitude"],
        "native_latitude": car["latitude"],
        "native_location_supported": 1,
        "native_longitude": car["longitude"],
        "native_type": "wgs",
        "power": power,
        "shift_state": car["shift_state"],
        "speed": car["speed"] if driving else None,
        "timestamp": ts,
    }


def gui_settings(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    # The owner's display choices; the numbers elsewhere stay in miles (§4.2 note).
    imperial = v["region"] == "NA"
    return {
        "gui_24_hour_time": not imperial,
        "gui_charge_rate_units": "mi/hr" if imperial else "kW",
        "gui_distance_units": "mi/hr" if imperial else "km/hr",
        "gui_range_display": "Rated",
        "gui_temperature_units": "F" if imperial else "C",
        "gui_tirepressure_units": "Psi" if imperial else "Bar",
        "show_range_units": False,
        "timestamp": ts,
    }


# car_type, trim badge, paint, wheels, third row by model; a pre-2021 (Intel Atom) S/X
# reports the older car types.
_MODELS = {
    "Model 3": ("model3", "74d", "MidnightSilver", "Pinwheel18", "None"),
    "Model Y": ("modely", "74d", "PearlWhite", "Gemini19", "None"),
    "Model S": ("models", "100d", "DeepBlue", "Tempest19", "None"),
    "Model X": ("modelx", "100d", "SolidBlack", "Turbine22", "FuturisFoldFlat"),
}
_LEGACY_CAR_TYPES = {"models": "models2", "modelx": "modelx2"}
_UTC_OFFSETS = {"NA": -28800, "EU": 3600, "CN": 28800}


def vehicle_config(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    car_type, trim, paint, wheels, third_row = _MODELS.get(v["model"], _MODELS["Model 3"])
    if v["legacy_hardware"]:
        car_type = _LEGACY_CAR_TYPES.get(car_type, car_type)
    s_or_x = car_type.startswith(("models", "modelx"))
    eu = v["region"] == "EU"
    return {
        "aux_park_lamps": "Eu" if eu else "NaPremium",
        "badge_version": 0,
        "can_accept_navigation_requests": True,
        "can_actuate_trunks": True,
        "car_special_type": "base",
        "car_type": car_type,
        "charge_port_type": {"NA": "US", "EU": "CCS", "CN": "GB"}.get(v["region"], "US"),
        "cop_user_set_temp_supported": not v["legacy_hardware"],
        "dashcam_clip_save_supported": True,
        "default_charge_to_max": False,
        "driver_assist": "TeslaAP3",
        "ece_restrictions": eu,
        "efficiency_package": "Default",
        "eu_vehicle": eu,
        "exterior_color": paint,
        "exterior_trim": "Black",
        "exterior_trim_override": "",
        "has_air_suspension": s_or_x,
        "has_ludicrous_mode": False,
        "has_seat_cooling": s_or_x,
        "headlamp_type": "Premium",
        "interior_trim_type": "Black2",
        "key_version": 1 if v["legacy_hardware"] else 2,
        "motorized_charge_port": True,
        "paint_color_override": "",
        "performance_package": "Base",
        "plg": True,
        "pws": True,
        "rear_drive_unit": "PM216MOSFET",
        "rear_seat_heaters": 1,
        "rear_seat_type": 0,
        "rhd": False,
        "roof_color": "RoofColorGlass",
        "seat_type": None,
        "spoiler_type": "None",
        "sun_roof_installed": None,
        "supports_qr_pairing": not v["legacy_hardware"],
        "third_row_seats": third_row,
        "timestamp": ts,
        "trim_badging": trim,
        "use_range_badging": True,
        "utc_offset": _UTC_OFFSETS.get(v["region"], 0),
        "webcam_selfie_supported": not v["legacy_hardware"],
        "webcam_supported": not v["legacy_hardware"],
        "wheel_type": wheels,
    }


def _closures(car: dict[str, Any]) -> dict[str, Any]:
    """Doors, windows, locks and sentry: shared by vehicle_state and closures_state."""
    driving = car["phase"] == "driving"
    return {
        "center_display_state": 2 if driving else 3 if _charging(car) else 0,
        "df": int(car["driver_door_open"]),
        "dr": 0,
        "fd_window": 0,
        "fp_window": 0,
        "ft": 0,
        "is_user_present": driving or car["driver_door_open"],
        "locked": car["locked"],
        "pf": 0,
        "pr": 0,
        "rd_window": 0,
        "remote_start": False,
        "rp_window": 0,
        "rt": 0,
        "sentry_mode": car["sentry_mode"],
        "sentry_mode_available": True,
        "speed_limit_mode": {
            "active": False,
            "current_limit_mph": 85.0,
            "max_limit_mph": 120,
            "min_limit_mph": 50,
            "pin_code_set": False,
        },
        "valet_mode": False,
        "valet_pin_needed": True,
    }


def vehicle_state(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    tyres = {}
    for wheel in ("fl", "fr", "rl", "rr"):
        tyres |= {
            f"tpms_hard_warning_{wheel}": False,
            f"tpms_last_seen_pressure_time_{wheel}": ts // 1000,
            f"tpms_pressure_{wheel}": 2.9 if wheel.startswith("f") else 2.875,
            f"tpms_soft_warning_{wheel}": False,
        }
    return {
        **_closures(car),
        **tyres,
        "api_version": 71,
        "autopark_state_v3": "standby",
        "autopark_style": "dead_man",
        "calendar_supported": True,
        "car_version": stream.car_version(v["firmware"]),
        "dashcam_clip_save_available": True,
        "dashcam_state": "Recording" if car["phase"] == "driving" else "Unavailable",
        "feature_bitmask": "fbdffbff,187f",
        "homelink_device_count": 1,
        # Near home when parked within the city (location, so only with location_data).
        "homelink_nearby": car["phase"] != "driving",
        "last_autopark_error": "no_error",
        "media_info": {
            "a2dp_source_name": "",
            "audio_volume": 2.3333,
            "audio_volume_increment": 0.333333,
            "audio_volume_max": 10.333333,
            "media_playback_status": "Stopped",
            "now_playing_album": "",
            "now_playing_artist": "",
            "now_playing_duration": 0,
            "now_playing_elapsed": 0,
            "now_playing_source": "Spotify",
            "now_playing_station": "",
            "now_playing_title": "",
        },
        "media_state": {"remote_control_enabled": True},
        "notifications_supported": True,
        "odometer": car["odometer"],
        "parsed_calendar_supported": True,
        "remote_start_enabled": True,
        "remote_start_supported": True,
        "santa_mode": 0,
        "service_mode": False,
        "service_mode_plus": False,
        "smart_summon_available": True,
        "software_update": {
            "download_perc": 0,
            "expected_duration_sec": 2700,
            "install_perc": 1,
            "status": "",
            "version": " ",
        },
        "summon_standby_mode_enabled": False,
        "tpms_rcp_front_value": 2.9,  # recommended cold pressures, bar
        "tpms_rcp_rear_value": 2.875,
        "timestamp": ts,
        "vehicle_name": v["display_name"],
        "vehicle_self_test_progress": 0,
        "vehicle_self_test_requested": False,
        "webcam_available": True,
    }


# -- objects newer firmware adds (keys from Tesla's vehicle protocol; README) --------------


def closures_state(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    return {**_closures(car), "timestamp": ts}


# One schedule each, at home and switched off (scheduled_charging_mode stays "Off").
_SCHEDULE_ID = 1_700_000_000


def charge_schedule_data(v: dict[str, Any], car: dict[str, Any], ts: int) -> dict[str, Any]:
    lat, lon = car["home"]
    schedule = {
        "days_of_week": 0b1111111,
        "enabled": False,
        "end_enabled": True,
        "end_time": 360,  # minutes after midnight
        "id": _SCHEDULE_ID,
        "latitude": lat,
        "longitude": lon,
        "name": "Home",
        "one_time": False,
        "start_enabled": True,
        "start_time": 1320,
    }
    return {
        "charge_buffer": 0,
        "charge_schedule_window": None,
        "charge_schedules": [schedule],
        "max_num_charge_schedules": 10,
        "next_schedule": False,
        "show_schedule_complete_state": False,
        "timestamp": ts,
    }


def preconditioning_schedule_data(
    v: dict[str, Any], car: dict[str, Any], ts: int
) -> dict[str, Any]:
    lat, lon = car["home"]
    schedule = {
        "days_of_week": 0b0111110,  # weekdays
        "enabled": False,
        "id": _SCHEDULE_ID + 1,
        "latitude": lat,
        "longitude": lon,
        "name": "Work",
        "one_time": False,
        "precondition_time": 450,
    }
    return {
        "max_num_precondition_schedules": 10,
        "next_schedule": False,
        "precondition_schedules": [schedule],
        "preconditioning_schedule_window": None,
        "timestamp": ts,
    }


BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any], int], dict[str, Any]]] = {
    "charge_state": charge_state,
    "climate_state": climate_state,
    "closures_state": closures_state,
    "drive_state": drive_state,
    "gui_settings": gui_settings,
    "charge_schedule_data": charge_schedule_data,
    "preconditioning_schedule_data": preconditioning_schedule_data,
    "vehicle_config": vehicle_config,
    "vehicle_state": vehicle_state,
}
