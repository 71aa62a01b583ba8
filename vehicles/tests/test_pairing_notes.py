"""The vehicle page tells an owner what pairing needs (issue 17): an Intel Atom Model S/X
takes no key but the Safety screen toggle; while the portal's key is not served, pairing
would fail in the Tesla app."""

from __future__ import annotations

import pytest

from partners import services as partner_services
from partners.models import PartnerKey
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def car(owner):
    car = make_vehicles(make_link(owner), 1)[0]
    car.region = "NA"
    car.key_paired = False
    car.save()
    return car


def _page(client, car) -> str:
    return client.get(f"/vehicles/{car.pk}/").content.decode()


def test_an_atom_car_gets_the_safety_screen_toggle_not_a_pairing_link(owner_client, car):
    assert "Pair the portal" in _page(owner_client, car)
    car.safety_screen_streaming = False
    car.save()
    page = _page(owner_client, car)
    assert "Pair the portal" not in page and "pairing-qr" not in page
    assert "Allow Third-Party App Data Streaming" in page
    car.safety_screen_streaming = True
    car.save()
    page = _page(owner_client, car)
    assert "Allow Third-Party App Data Streaming" not in page and "Pair the portal" not in page


def test_pairing_says_it_fails_while_the_portals_key_is_not_served(owner_client, car):
    partner_services.partner_key_generate()
    assert "application has not registered" not in _page(owner_client, car)
    PartnerKey.objects.update(hosting_problem="Public key served at …: It answers HTTP 404.")
    page = _page(owner_client, car)
    assert "Pairing does not work right now" in page
    # Not a secret, but operator detail: the owner is not shown the URL check itself.
    assert "HTTP 404" not in page
