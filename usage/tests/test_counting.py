"""Every Fleet API request the portal makes is counted, exactly as the sandbox counted it, by
category and region; token calls are not Fleet API requests and are not counted. Runs on both
stacks (SQLite + locmem, PostgreSQL + Redis) against the sandbox over HTTP."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from telemetry import services as telemetry_services
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import ALL, GOOD, run_inline
from teslafleet.fleet import ServerError
from usage import recorder
from usage.categories import category_for
from usage.models import ApiCallDay
from vehicles import services as vehicle_services

pytestmark = pytest.mark.django_db


def _fleet(sandbox) -> dict[str, int]:
    return dict(sandbox.control.counters()["fleet"])


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The sandbox's new Fleet API requests, by the portal's categories."""
    by_category: dict[str, int] = {}
    for route, n in after.items():
        n -= before.get(route, 0)
        if n:
            method, path = route.split(" ", 1)
            category = category_for(method, path)
            by_category[category] = by_category.get(category, 0) + n
    return by_category


def _counted() -> dict[str, int]:
    rows = ApiCallDay.objects.values("category").annotate(n=Sum("calls"))
    return {row["category"]: row["n"] for row in rows}


def test_link_sync_and_push_are_counted_exactly_as_the_sandbox_saw_them(
    owner_client, tesla_apps, tesla_sandbox, staff_with, portal_key
):
    from vehicles.tests.conftest import linked

    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    before = _fleet(tesla_sandbox)
    tokens_before = sum(tesla_sandbox.control.counters()["token"].values())
    link = linked(owner_client, "alice@example.com")  # a web request: flushed at its end
    vehicle_services.vehicles_sync(link_id=link.pk)
    manager = staff_with("telemetry.manage_telemetry")
    config = make_config(name="usage", hostname="127.0.0.1", fields={"Soc": 60})
    telemetry_services.telemetry_config_assign(config=config, vins=ALL, user=manager)
    run_inline(telemetry_services.telemetry_push_start(config=config, user=manager))
    assert recorder.pending(), "the sync and push ran outside a request: not flushed yet"
    recorder.flush()

    seen = _delta(before, _fleet(tesla_sandbox))
    assert seen.get("data") and seen.get("telemetry_config")
    assert _counted() == seen
    # Every sandbox answer here was below 500: all billed, all in North America.
    assert set(ApiCallDay.objects.values_list("billed", "region")) == {(True, "NA")}
    # The link's code exchange went to the token endpoint: not a Fleet API request.
    assert sum(tesla_sandbox.control.counters()["token"].values()) > tokens_before
    assert recorder.pending() == {}


def test_an_answer_of_500_or_above_is_counted_as_not_billed(
    owner_client, tesla_apps, tesla_sandbox
):
    from vehicles.tests.conftest import linked

    link = linked(owner_client, "alice@example.com")
    ApiCallDay.objects.all().delete()
    tesla_sandbox.control.fault("/api/1/vehicles", status=503, body={"error": "down"}, count=1)
    with pytest.raises(ServerError):
        vehicle_services.vehicles_sync(link_id=link.pk)
    recorder.flush()
    unbilled = ApiCallDay.objects.filter(billed=False).aggregate(n=Sum("calls"))["n"]
    assert unbilled == 1


def test_a_failed_flush_keeps_the_counts_for_the_next(monkeypatch, owner_client, tesla_apps):
    from django.db import DatabaseError

    from vehicles.tests.conftest import linked

    link = linked(owner_client, "alice@example.com")
    vehicle_services.vehicles_sync(link_id=link.pk)
    waiting = sum(recorder.pending().values())
    real = recorder._write

    def broken(*args, **kwargs):
        raise DatabaseError("database away")

    monkeypatch.setattr(recorder, "_write", broken)
    before = ApiCallDay.objects.aggregate(n=Sum("calls"))["n"]
    assert recorder.flush() == 0
    assert sum(recorder.pending().values()) == waiting
    monkeypatch.setattr(recorder, "_write", real)
    assert recorder.flush() == waiting
    assert ApiCallDay.objects.aggregate(n=Sum("calls"))["n"] == before + waiting
