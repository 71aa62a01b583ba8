"""The sync against odd Tesla answers, over real HTTP to the sandbox: pages, items, shapes."""

from __future__ import annotations

import pytest

from fleetportal.tesla.errors import TransientError
from vehicles import services
from vehicles.models import SyncRun, VehicleAccess
from vehicles.tests.conftest import linked

pytestmark = pytest.mark.django_db

ALICE_VINS = [
    "5YJ3E1EA7PF000001",
    "7SAYGDEE9RF000002",
    "5YJSA1E26KF000003",
    "5YJXCBE20NF000004",
    "5YJ3E1EB5NF000005",
]


def _item(vin: str, **extra: object) -> dict[str, object]:
    return {"id": 1, "id_s": "1", "vin": vin, "access_type": "OWNER", "state": "online", **extra}


def _list_once(sandbox, items: list, **envelope: object) -> None:
    """The next vehicle list answer is `items` (Tesla's envelope around them)."""
    body = {"response": items, "count": len(items), **envelope}
    sandbox.control.fault("/api/1/vehicles", status=200, body=body, count=1)


# --- pagination (the library's, over HTTP) -------------------------------------------------


def test_pagination_next_as_a_string_follows_every_page_and_marks_no_car_gone(
    owner_client, tesla_apps, tesla_sandbox
):
    added = tesla_sandbox.control.add_vehicles("nora@example.com", 250)
    link = linked(owner_client, "nora@example.com")
    services.vehicles_sync(link_id=link.pk)
    tesla_sandbox.control.settings(pagination_next="string")

    result = services.vehicles_sync(link_id=link.pk)

    assert (result.status, result.seen, result.gone) == ("done", 250, 0)
    assert SyncRun.objects.filter(link=link).latest("created_at").pages == 3
    current = VehicleAccess.objects.filter(link=link, gone_at__isnull=True)
    assert set(current.values_list("vehicle__vin", flat=True)) == set(added)


def test_an_unusable_pagination_next_marks_no_car_gone(alice_link, tesla_sandbox):
    services.vehicles_sync(link_id=alice_link.pk)
    _list_once(
        tesla_sandbox,
        [_item(vin) for vin in ALICE_VINS[:2]],
        pagination={"previous": None, "next": "two", "current": 1},
    )

    with pytest.raises(TransientError):
        services.vehicles_sync(link_id=alice_link.pk)

    # Only a complete list may declare cars gone; the task retries this one later.
    assert not VehicleAccess.objects.filter(gone_at__isnull=False).exists()
    run = SyncRun.objects.filter(link=alice_link).latest("created_at")
    assert run.status == "retrying"
    assert "pagination" in run.error
