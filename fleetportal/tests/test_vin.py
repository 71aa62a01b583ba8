"""The one VIN shape rule (ISO 3779) every app reads a VIN with."""

from __future__ import annotations

import pytest

from fleetportal.vin import is_well_formed_vin, normalise_vin, split_vins


@pytest.mark.parametrize(
    "vin",
    ["5YJ3E1EA7PF000001", "LRW3E7FS0RC257863", "XP7YGCEK5SB617830", "00000000000000000"],
)
def test_seventeen_digits_and_capitals_are_a_well_formed_vin(vin):
    assert is_well_formed_vin(vin)


@pytest.mark.parametrize(
    "vin",
    [
        "",
        "5YJ3E1EA7PF00000",  # 16
        "5YJ3E1EA7PF0000011",  # 18
        "5YJ3E1EA7PF00000I",  # I, O and Q are not in the alphabet
        "5YJ3E1EA7PF00000O",
        "5YJ3E1EA7PF00000Q",
        "5yj3e1ea7pf000001",  # normalising is the caller's step
        "5YJ3E1EA7PF00000-",
        "5YJ3E1EA7PF00000\u0661",  # a non-ASCII digit
    ],
)
def test_anything_else_is_not_a_well_formed_vin(vin):
    assert not is_well_formed_vin(vin)


def test_normalising_removes_all_white_space_and_upper_cases():
    assert normalise_vin(" 5yj3e1ea7 pf000001\n") == "5YJ3E1EA7PF000001"


def test_split_vins_takes_spaces_commas_semicolons_and_new_lines():
    text = " lrw3e7fs0rc257863,\nXP7YGCEK5SB617830;5YJ3E1EA7PF000001\t\tLRW3E7FS0RC257863 ,; "

    assert split_vins(text) == ["LRW3E7FS0RC257863", "XP7YGCEK5SB617830", "5YJ3E1EA7PF000001"]


def test_split_vins_of_only_separators_is_empty():
    assert split_vins(" ,;\n ") == []
