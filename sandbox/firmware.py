"""Firmware rules of the simulated cars: the Fleet Telemetry client version a firmware runs,
the fields it can stream and the config features it understands.

From Tesla's Fleet Telemetry page and the field comments of
https://github.com/teslamotors/fleet-telemetry/blob/main/protos/vehicle_data.proto (field
numbers in brackets); docs/tesla-api-notes.md §5.5 and §6 hold the notes. Where a rule names
two releases ("2024.44.25/2024.45.25") each is the minimum on its own branch (year.minor).
"""

from __future__ import annotations

Firmware = tuple[int, ...]

# Intel Atom Model S/X stream from 2025.20 on, once the owner turns on "Allow Third-Party
# App Data Streaming" on the Safety screen; they take no virtual key (Tesla, 2025-06-26).
ATOM_STREAMING_FIRMWARE: Firmware = (2025, 20)
# Proxy/JWS configs need 2024.26 (§5.1).
JWS_FIRMWARE: Firmware = (2024, 26)

# Fleet Telemetry client versions (§5.5): 1.0.0 from 2025.2.6 / 2024.45.32.20 (delivery_policy,
# location minimum_delta, fields 239-257), 1.2.0 from 2025.44.25.5 (fields 258-259).
CLIENT_1_0: tuple[Firmware, ...] = ((2024, 45, 32, 20), (2025, 2, 6))
CLIENT_1_2: tuple[Firmware, ...] = ((2025, 44, 25, 5),)
# UNKNOWN: the version a supported car below 1.0.0 reports; the sandbox says "0.9.0".
OLDER_CLIENT = "0.9.0"

# [107-112, 163] need 2024.26
ROUTE_FIELDS = (
    "RouteLastUpdated",
    "RouteLine",
    "MilesToArrival",
    "MinutesToArrival",
    "OriginLocation",
    "DestinationLocation",
    "DestinationName",
)
# [180-228] except ChargerVoltage need 2024.44.25/2024.45.25
FIELDS_2024_44_25 = (
    "CabinOverheatProtectionMode",
    "CabinOverheatProtectionTemperatureLimit",
    "CenterDisplay",
    "ChargePortDoorOpen",
    "ChargingCableType",
    "ClimateKeeperMode",
    "DefrostForPreconditioning",
    "DefrostMode",
    "EfficiencyPackage",
    "EstimatedHoursToChargeTermination",
    "EuropeVehicle",
    "ExpectedEnergyPercentAtTripArrival",
    "FastChargerType",
    "HomelinkDeviceCount",
    "HomelinkNearby",
    "HvacACEnabled",
    "HvacAutoMode",
    "HvacFanSpeed",
    "HvacFanStatus",
    "HvacLeftTemperatureRequest",
    "HvacPower",
    "HvacRightTemperatureRequest",
    "HvacSteeringWheelHeatAuto",
    "HvacSteeringWheelHeatLevel",
    "OffroadLightbarPresent",
    "PowershareHoursLeft",
    "PowershareInstantaneousPowerKW",
    "PowershareStatus",
    "PowershareStopReason",
    "PowershareType",
    "RearDisplayHvacEnabled",
    "RearSeatHeaters",
    "RemoteStartEnabled",
    "RightHandDrive",
    "RouteTrafficMinutesDelay",
    "SoftwareUpdateDownloadPercentComplete",
    "SoftwareUpdateExpectedDurationMinutes",
    "SoftwareUpdateInstallationPercentComplete",
    "SoftwareUpdateScheduledStartTime",
    "SoftwareUpdateVersion",
    "TonneauOpenPercent",
    "TonneauPosition",
    "TonneauTentMode",
    "TpmsHardWarnings",
    "TpmsSoftWarnings",
    "ValetModeEnabled",
    "WheelType",
    "WiperHeatEnabled",
)
# [184, 229-238] need 2024.44.32/2024.45.32
FIELDS_2024_44_32 = (
    "ChargerVoltage",
    "LocatedAtHome",
    "LocatedAtWork",
    "LocatedAtFavorite",
    "SettingDistanceUnit",
    "SettingTemperatureUnit",
    "Setting24HourTime",
    "SettingTirePressureUnit",
    "SettingChargeUnit",
    "ClimateSeatCoolingFrontLeft",
    "ClimateSeatCoolingFrontRight",
)
# [239-257] need client 1.0.0; [258-259] client 1.2.0
FIELDS_CLIENT_1_0 = (
    "LightsHazardsActive",
    "LightsTurnSignal",
    "LightsHighBeams",
    "MediaPlaybackStatus",
    "MediaPlaybackSource",
    "MediaAudioVolume",
    "MediaNowPlayingDuration",
    "MediaNowPlayingElapsed",
    "MediaNowPlayingArtist",
    "MediaNowPlayingTitle",
    "MediaNowPlayingAlbum",
    "MediaNowPlayingStation",
    "MediaAudioVolumeIncrement",
    "MediaAudioVolumeMax",
    "SunroofInstalled",
    "SeatVentEnabled",
    "RearDefrostEnabled",
    "ChargeRateMilePerHour",
)
FIELDS_CLIENT_1_2 = (
    "MilesSinceReset",
    "SelfDrivingMilesSinceReset",
)

FIELD_MINIMA: dict[str, tuple[Firmware, ...]] = {
    **dict.fromkeys(ROUTE_FIELDS, ((2024, 26),)),
    "DetailedChargeState": ((2024, 38),),
    **dict.fromkeys(FIELDS_2024_44_25, ((2024, 44, 25), (2024, 45, 25))),
    **dict.fromkeys(FIELDS_2024_44_32, ((2024, 44, 32), (2024, 45, 32))),
    **dict.fromkeys(FIELDS_CLIENT_1_0, CLIENT_1_0),
    **dict.fromkeys(FIELDS_CLIENT_1_2, CLIENT_1_2),
}


def parse(version: str) -> Firmware:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def meets(firmware: str, minima: tuple[Firmware, ...]) -> bool:
    """At least the newest minimum, or at least the minimum of the firmware's own branch."""
    fw = parse(firmware)
    if fw >= max(minima):
        return True
    return any(fw[:2] == m[:2] and fw >= m for m in minima)


def streams(vehicle: dict) -> bool:
    """Whether the car can run a Fleet Telemetry config at all."""
    if vehicle["legacy_hardware"]:
        return parse(vehicle["firmware"]) >= ATOM_STREAMING_FIRMWARE and bool(
            vehicle.get("safety_screen_streaming")
        )
    return parse(vehicle["firmware"]) >= JWS_FIRMWARE


def client_version(vehicle: dict) -> str | None:
    """fleet_status' fleet_telemetry_version: null where the car cannot stream (§3.5)."""
    if not streams(vehicle):
        return None
    if meets(vehicle["firmware"], CLIENT_1_2):
        return "1.2.0"
    if meets(vehicle["firmware"], CLIENT_1_0):
        return "1.0.0"
    return OLDER_CLIENT


def unsupported_fields(firmware: str, names: list[str]) -> list[str]:
    """The configured fields this firmware cannot send, in the given order."""
    return [n for n in names if n in FIELD_MINIMA and not meets(firmware, FIELD_MINIMA[n])]


def unsupported_features(vehicle: dict, config: dict) -> list[str]:
    """Config features the car's client is too old for (§5.5): such a config is rejected
    by the car (a sandbox choice, sandbox/README.md)."""
    if meets(vehicle["firmware"], CLIENT_1_0):
        return []
    problems = []
    if config.get("delivery_policy") is not None:
        problems.append("delivery_policy")
    location = (config.get("fields") or {}).get("Location")
    if isinstance(location, dict) and "minimum_delta" in location:
        problems.append("Location.minimum_delta")
    return problems
