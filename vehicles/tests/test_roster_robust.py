"""The roster paste: linear in its size, order and duplicates kept right, a clear size cap."""

from __future__ import annotations

from unittest import mock

import pytest

from fleetportal import vin as vinlib
from vehicles import services
from vehicles.forms import RosterForm
from vehicles.models import RosterEntry

_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True))}
_VALUES.update({"J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9})
_VALUES.update({"S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9})
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def valid_vin(serial: int) -> str:
    """A Fremont Model 3 VIN with a correct check digit (ISO 3779 / 49 CFR 565)."""
    vin = f"5YJ3E1EA0PF{serial:06d}"
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True)) % 11
    return vin[:8] + ("X" if total == 10 else str(total)) + vin[9:]


class CountingVin(str):
    """A VIN that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingVin.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_roster_parse_keeps_first_seen_order_and_drops_duplicates():
    a, b, c = valid_vin(3), valid_vin(1), valid_vin(2)

    vins, problems = services.roster_parse(f"{a} {b.lower()}, {a}\n{c};{b} SHORT short")

    assert vins == [a, b, c]
    assert list(problems) == ["SHORT"]


def test_roster_parse_compares_each_vin_a_bounded_number_of_times():
    # A list membership test per VIN compared each new VIN with every earlier one: n^2 / 2.
    count = 2_000
    text = " ".join(valid_vin(n) for n in range(count)) + " " + valid_vin(0)
    CountingVin.comparisons = 0

    with mock.patch.object(
        vinlib, "normalise_vin", side_effect=lambda raw: CountingVin(raw.strip().upper())
    ):
        vins, problems = services.roster_parse(text)

    assert len(vins) == count and problems == {}
    assert CountingVin.comparisons <= 3 * count


def test_roster_parse_handles_120000_vins():
    expected = [valid_vin(n) for n in range(120_000)]

    vins, problems = services.roster_parse("\n".join(expected))

    assert problems == {}
    assert vins == expected


def test_roster_form_refuses_more_than_the_cap_with_a_clear_error():
    text = "\n".join(valid_vin(n) for n in range(RosterForm.MAX_VINS + 1))

    form = RosterForm({"vins": text})

    assert not form.is_valid()
    assert form.errors["vins"] == ["Paste at most 10,000 VINs at a time."]


def test_roster_form_refuses_an_oversized_paste_before_parsing():
    form = RosterForm({"vins": "x" * (RosterForm.MAX_CHARS + 1)})

    with mock.patch.object(services, "roster_parse") as parse:
        assert not form.is_valid()

    parse.assert_not_called()
    assert form.errors["vins"] == ["Paste at most 10,000 VINs at a time."]


def test_roster_form_accepts_exactly_the_cap():
    form = RosterForm({"vins": "\n".join(valid_vin(n) for n in range(RosterForm.MAX_VINS))})

    assert form.is_valid(), form.errors
    assert len(form.cleaned_data["vins"]) == RosterForm.MAX_VINS


def test_roster_form_lists_a_few_invalid_vins_and_counts_the_rest():
    bad = [f"BAD{n:05d}" for n in range(RosterForm.MAX_PROBLEMS_SHOWN + 5)]

    form = RosterForm({"vins": " ".join(bad)})

    assert not form.is_valid()
    errors = form.errors["vins"]
    assert len(errors) == RosterForm.MAX_PROBLEMS_SHOWN + 1
    assert errors[0].startswith("BAD00000: ")
    assert errors[-1] == "More invalid VINs not shown: 5."


@pytest.mark.django_db
def test_roster_view_shows_the_cap_error_and_adds_nothing(client, staff_with):
    client.force_login(staff_with("vehicles.manage_roster"))
    text = "\n".join(valid_vin(n) for n in range(RosterForm.MAX_VINS + 1))

    response = client.post("/vehicles/roster/", {"vins": text})

    assert response.status_code == 200
    assert "Paste at most 10,000 VINs at a time." in response.content.decode()
    assert RosterEntry.objects.count() == 0
