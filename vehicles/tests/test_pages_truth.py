"""Owner pages that tell the truth (issue 16): empty states, sync lines, key pairing state."""

from __future__ import annotations

import pytest
from django.urls import reverse

from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


def test_filter_with_no_match_says_no_vehicle_matches_and_offers_to_clear(owner_client, owner):
    make_vehicles(make_link(owner, region="NA"), 7)

    response = owner_client.get(reverse("vehicles:list"), {"region": "EU"})

    body = response.content.decode()
    assert "No vehicles match these filters" in body
    assert f'href="{reverse("vehicles:list")}"' in body
    assert "Link a Tesla account" not in body


def test_user_without_cars_is_told_to_link_an_account(owner_client):
    response = owner_client.get(reverse("vehicles:list"), {"region": "EU"})

    body = response.content.decode()
    assert "Link a Tesla account" in body
    assert "No vehicles match these filters" not in body
