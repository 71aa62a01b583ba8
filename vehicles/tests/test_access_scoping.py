"""A page shows a car only through the viewer's own current access (issue 12, item 1).

The scenario runs over the sandbox: user A links alice and syncs; the car is sold to erika,
whom user E links and syncs; A's next sync marks A's access gone. From then on A's pages
must not show the car's data, and nothing A opens may call Tesla with E's token.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.models import TeslaLink
from vehicles import services
from vehicles.models import Vehicle, VehicleAccess
from vehicles.tests.conftest import linked

pytestmark = pytest.mark.django_db

SOLD = "5YJ3E1EA7PF000001"  # alice's Model 3, sold to erika in EU
KEPT = "7SAYGDEE9RF000002"  # alice keeps this one
SHARED = "5YJ3E1EB5NF000005"  # alice owns it, bob drives it


@dataclass
class Sale:
    former: Client  # user A: linked alice, whose car was sold
    new: Client  # user E: linked erika, the new owner
    former_link: TeslaLink
    new_link: TeslaLink
    car: Vehicle


@pytest.fixture
def sale(alice_link, owner_client, other_client, tesla_sandbox, _partner_key_server) -> Sale:
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin=SOLD)
    assert car.key_paired is False and car.region == "NA"

    tesla_sandbox.control.move_vehicle(SOLD, "erika@example.de")
    # The new owner pairs the portal's key: E's sync then writes data A never saw.
    tesla_sandbox.control.pair(SOLD, _partner_key_server.domain)
    erika = linked(other_client, "erika@example.de")
    services.vehicles_sync(link_id=erika.pk)
    services.vehicles_sync(link_id=alice_link.pk)

    car.refresh_from_db()
    assert car.key_paired is True and car.region == "EU"
    former = VehicleAccess.objects.get(link=alice_link, vehicle=car)
    assert former.gone_at is not None
    tesla_sandbox.control.clear_requests()
    return Sale(owner_client, other_client, alice_link, erika, car)


def test_former_owner_gets_404_for_a_sold_car_and_tesla_is_not_called(sale, tesla_sandbox):
    telemetry = sale.former.get(f"/telemetry/vehicles/{sale.car.pk}/")
    detail = sale.former.get(f"/vehicles/{sale.car.pk}/")
    by_vin = sale.former.get(f"/vehicles/vin/{SOLD}/")

    # Not one Fleet API call for A's page views, least of all with the new owner's token.
    calls = tesla_sandbox.control.requests()
    assert [c["path"] for c in calls if c.get("user") == "erika@example.de"] == []
    assert calls == []
    assert (telemetry.status_code, detail.status_code, by_vin.status_code) == (404, 404, 404)


def test_new_owners_telemetry_page_calls_tesla_with_the_new_owners_token(sale, tesla_sandbox):
    page = sale.new.get(f"/telemetry/vehicles/{sale.car.pk}/")

    assert page.status_code == 200
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_errors")
    assert [c["user"] for c in calls] == ["erika@example.de"]


def test_former_owner_still_sees_the_cars_they_kept(sale, tesla_sandbox):
    kept = Vehicle.objects.get(vin=KEPT)

    assert sale.former.get(f"/vehicles/{kept.pk}/").status_code == 200
    assert sale.former.get(f"/vehicles/vin/{KEPT}/")["Location"] == f"/vehicles/{kept.pk}/"
    assert sale.former.get(f"/telemetry/vehicles/{kept.pk}/").status_code == 200
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_errors")
    assert [c["user"] for c in calls] == ["alice@example.com"]


def test_gone_row_says_since_when_but_shows_nothing_written_after(sale):
    page = sale.former.get("/vehicles/?gone=on&q=5YJ3E1EA7PF000001")
    assert page.status_code == 200
    (row,) = page.context["page"].object_list
    assert row.is_gone
    body = page.content.decode().split("<tbody>")[1].split("</tbody>")[0]

    assert SOLD in body and "No longer listed" in body
    assert row.gone_at.strftime("%Y") in body  # since when
    # Nothing of the new owner's: region, key pairing, and no link to the car's page.
    assert "EU" not in body and "Paired" not in body
    assert f"/vehicles/{sale.car.pk}/" not in body


@pytest.mark.parametrize("query", ["key_paired=yes", "region=EU"])
def test_gone_rows_are_not_found_by_data_written_after_the_viewer_lost_access(sale, query):
    page = sale.former.get(f"/vehicles/?gone=on&{query}")

    assert page.status_code == 200
    assert SOLD not in page.content.decode()
    # The new owner's list answers the same filter with the car: the data is there.
    assert SOLD in sale.new.get(f"/vehicles/?{query}").content.decode()


def test_a_link_whose_access_is_gone_is_not_used_when_another_is_current(
    alice_link, owner, owner_client, tesla_sandbox
):
    # The same user linked a second Tesla account that still lists the car (as DRIVER):
    # the page shows the car through that access, not the gone one.
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin=SHARED)
    bob = linked(owner_client, "bob@example.com")
    services.vehicles_sync(link_id=bob.pk)
    VehicleAccess.objects.filter(link=alice_link, vehicle=car).update(gone_at=car.created_at)
    tesla_sandbox.control.clear_requests()

    page = owner_client.get(f"/vehicles/{car.pk}/")

    assert page.status_code == 200
    assert page.context["access"].link == bob
    assert "/_ak/" not in page.content.decode()  # a driver cannot pair a key
    owner_client.get(f"/telemetry/vehicles/{car.pk}/")
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_errors")
    assert [c["user"] for c in calls] == ["bob@example.com"]


# --- NUL bytes and other strings PostgreSQL refuses ----------------------------------------


@pytest.mark.parametrize("vin", ["%00", "5YJ3E1EA7PF00000%00", "A" * 300])
def test_a_vin_in_the_url_that_cannot_exist_is_404(owner_client, vin):
    assert owner_client.get(f"/vehicles/vin/{vin}/").status_code == 404


@pytest.mark.parametrize(
    "query", ["q=%00", "q=5YJ%00", "model=%00", "region=%00", "sort=%00", "page=%00", "gone=%00"]
)
def test_nul_bytes_in_the_list_filters_do_not_break_the_list(owner_client, query):
    assert owner_client.get(f"/vehicles/?{query}").status_code == 200


def test_a_nul_byte_in_roster_vins_is_a_form_error(staff_with):
    client = Client()
    client.force_login(staff_with("vehicles.manage_roster"))

    response = client.post(
        "/vehicles/roster/",
        "vins=5YJ3E1EA7PF000001%00",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200 and response.context["form"].errors
