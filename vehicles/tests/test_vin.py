"""VIN validation and decoding on real Tesla VINs from each plant."""

from __future__ import annotations

import pytest

from vehicles import services
from vehicles.vin import vin_check, vin_decode


@pytest.mark.parametrize(
    ("vin", "model", "year", "plant"),
    [
        ("LRW3E7FS0RC257863", "Model 3", 2024, "Shanghai, China"),
        ("XP7YGCEK5SB617830", "Model Y", 2025, "Berlin-Brandenburg, Germany"),
        ("XP7YGCES1RB482601", "Model Y", 2024, "Berlin-Brandenburg, Germany"),
        ("7SAYGDEEXPA052466", "Model Y", 2023, "Austin, Texas, USA"),
        ("7SAYGDEEXPF836682", "Model Y", 2023, "Fremont, California, USA"),
        ("5YJ3E1EA7HF000337", "Model 3", 2017, "Fremont, California, USA"),
    ],
)
def test_real_tesla_vins_decode_model_year_and_plant(vin, model, year, plant):
    decoded = vin_decode(vin)

    assert decoded.valid and decoded.problems == []
    assert decoded.is_tesla
    assert (decoded.model, decoded.model_year, decoded.plant) == (model, year, plant)


def test_shanghai_model_3_decodes_as_2024_model_3_built_in_shanghai():
    decoded = vin_decode("LRW3E7FS0RC257863")

    assert decoded.manufacturer.startswith("Tesla")
    assert decoded.model == "Model 3"
    assert decoded.model_year == 2024
    assert decoded.plant_code == "C"
    assert decoded.body == "4-door sedan, left-hand drive"


@pytest.mark.parametrize(
    "vin",
    ["LRW3E7FS0RC25786", "LRW3E7FS0RC2578630", "LRW3E7FS0RC25786O", "IRW3E7FS0RC257863", ""],
)
def test_wrong_length_or_letters_i_o_q_are_errors(vin):
    assert not vin_check(vin).valid


def test_bad_check_digit_is_an_error_in_north_america_and_china():
    # 49 CFR 565 and GB 16735 both require a computed 9th character.
    assert not vin_check("5YJ3E1EA8HF000337").valid
    assert not vin_check("LRW3E7FS1RC257863").valid


def test_bad_check_digit_is_only_a_warning_in_europe():
    # ISO 3779 leaves the 9th character to the manufacturer outside those markets.
    check = vin_check("XP7YGCEK6SB617830")

    assert check.valid
    assert check.warnings


def test_lower_case_and_spaces_are_normalised_before_checking():
    vins, problems = services.roster_parse(
        " lrw3e7fs0rc257863,\nXP7YGCEK5SB617830 XP7YGCEK5SB617830"
    )

    assert vins == ["LRW3E7FS0RC257863", "XP7YGCEK5SB617830"]
    assert problems == {}


def test_roster_parse_reports_each_invalid_vin():
    vins, problems = services.roster_parse("LRW3E7FS0RC257863 5YJ3E1EA8HF000337 SHORT")

    assert vins == ["LRW3E7FS0RC257863"]
    assert set(problems) == {"5YJ3E1EA8HF000337", "SHORT"}
