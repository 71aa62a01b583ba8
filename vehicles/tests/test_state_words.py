"""What Tesla and the sync store in English reads in the reader's language: a car's state
("online", "asleep", "offline") and why a sync failed."""

from __future__ import annotations

import pytest

from accounts import reasons
from accounts.models import TeslaLink
from vehicles import services
from vehicles.models import SyncRun, VehicleAccess
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db

RELINK_ZH = "该特斯拉账户需要重新关联。特斯拉未授予门户所需的全部权限（缺少：offline_access）"


def _zh(client, path: str) -> str:
    client.cookies["django_language"] = "zh-hans"
    return client.get(path).content.decode()


@pytest.fixture
def cars(owner):
    cars = make_vehicles(make_link(owner), 3)
    for car, state in zip(cars, ("online", "asleep", "offline"), strict=True):
        VehicleAccess.objects.filter(vehicle=car).update(state=state)
    return cars


def test_the_vehicle_list_shows_teslas_states_in_chinese(owner_client, cars):
    page = _zh(owner_client, "/vehicles/")
    for words in (">在线</td>", ">休眠</td>", ">离线</td>"):
        assert words in page
    for raw in (">online</td>", ">asleep</td>", ">offline</td>"):
        assert raw not in page


def test_the_vehicle_page_shows_its_state_in_chinese(owner_client, cars):
    page = _zh(owner_client, f"/vehicles/{cars[1].pk}/")
    assert "<dd>休眠</dd>" in page and "asleep" not in page


def test_a_state_tesla_has_not_documented_is_shown_as_sent(owner_client, cars):
    VehicleAccess.objects.filter(vehicle=cars[0]).update(state="waking")
    assert ">waking</td>" in _zh(owner_client, "/vehicles/")


def test_a_sync_that_failed_for_a_relink_says_why_in_chinese(owner, owner_client):
    link = make_link(owner)
    TeslaLink.objects.filter(pk=link.pk).update(
        health=TeslaLink.Health.NEEDS_RELINK,
        health_reason=reasons.missing_scopes(["offline_access"]),
    )
    run = SyncRun.objects.create(link=link)
    assert services.vehicles_sync(link_id=link.pk, run_id=run.pk).status == "broken"
    run.refresh_from_db()
    assert run.error == "needs relink: missing_scopes:offline_access"

    page = _zh(owner_client, "/vehicles/")
    assert RELINK_ZH in page
    assert "needs relink" not in page and "missing_scopes" not in page


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        # Stored before the reasons were codes.
        (
            "needs relink: missing scopes: offline_access",
            RELINK_ZH,
        ),
        ("lost: no worker finished it", "没有后台进程完成这次同步。"),
        ("could not be queued: OperationalError", "同步无法排队（OperationalError）。"),
    ],
)
def test_stored_sync_errors_read_in_chinese(owner, owner_client, stored, words):
    SyncRun.objects.create(link=make_link(owner), status=SyncRun.Status.FAILED, error=stored)
    page = _zh(owner_client, "/vehicles/")
    assert words in page and stored not in page
