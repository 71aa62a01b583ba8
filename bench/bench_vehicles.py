"""Vehicles at scale: the list page for a user with 1,000 cars against one with 10, and one
sync of 5,000 cars from an in-process Tesla sandbox over real HTTP.

Prints queries and median render time side by side with their ratio (target: equal queries,
render time growing no faster than the rows shown, which the page size caps), then the
sync's wall time and queries, and a second sync's peak Python memory (tracemalloc). Figures
only, no asserts.
`.venv/bin/python -m bench.bench_vehicles` (SQLite is fine; PostgreSQL via DATABASE_URL).
"""

from __future__ import annotations

import os
import statistics
import time
import tracemalloc

from bench.common import (
    add_cars,
    bench_link,
    count_queries,
    django_setup,
    report,
    sandbox_client,
    test_database,
    user_tokens,
)

SMALL, LARGE = 10, int(os.environ.get("BENCH_LIST_VEHICLES", "1000"))
SYNC_VEHICLES = int(os.environ.get("BENCH_SYNC_VEHICLES", "5000"))
RENDERS = int(os.environ.get("BENCH_RENDERS", "25"))
SYNC_USER = "nora@example.com"


def _list_page(size: int, email: str) -> tuple[int, float, int]:
    """Queries, median render seconds and HTML size of /vehicles/ for a user with `size` cars."""
    from django.test import Client

    from accounts.models import User
    from vehicles.tests.factories import make_link, make_vehicles

    user = User.objects.create_user(email, "x")
    make_vehicles(make_link(user), size, prefix=email[:3].upper())
    browser = Client()
    browser.force_login(user)
    response, queries = count_queries(lambda: browser.get("/vehicles/"))
    assert response.status_code == 200, response.status_code
    times = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        browser.get("/vehicles/")
        times.append(time.perf_counter() - started)
    return queries, statistics.median(times), len(response.content)


def _sync(sandbox, client: dict[str, str]) -> list[tuple[str, object]]:
    import datetime as dt

    from accounts.models import User
    from vehicles import services
    from vehicles.models import VehicleAccess

    add_cars(sandbox.control, SYNC_USER, SYNC_VEHICLES)
    link = bench_link(
        User.objects.create_user("sync@example.com", "x"),
        "bench-sync",
        (user_tokens(client, SYNC_USER).access_token, "unused"),
        fleet_api_base_url=sandbox.fleet("na"),
        expires_in=dt.timedelta(hours=8),
    )
    link.save()
    started = time.perf_counter()
    result, queries = count_queries(lambda: services.vehicles_sync(link_id=link.pk))
    wall = time.perf_counter() - started
    stored = VehicleAccess.objects.filter(link=link).count()
    # A second sync, under tracemalloc (which slows every Python line, the in-process sandbox's
    # too, so its wall time is not comparable): all updates now, the beat sweep's steady state.
    tracemalloc.start()
    started = time.perf_counter()
    _, queries_again = count_queries(lambda: services.vehicles_sync(link_id=link.pk))
    wall_again = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return [
        ("vehicles listed / stored", f"{result.seen} / {stored} ({result.status})"),
        ("fleet_status answers", result.statuses),
        ("wall time, first sync", f"{wall:.2f} s"),
        ("queries, first sync", queries),
        ("queries per 100 vehicles", f"{queries / max(result.seen, 1) * 100:.1f}"),
        ("queries, second sync", queries_again),
        ("peak Python memory, second sync", f"{peak / 1e6:.1f} MB"),
        ("wall time, second sync (traced)", f"{wall_again:.2f} s"),
    ]


def main() -> None:
    django_setup()
    from django.conf import settings
    from django.test.utils import override_settings
    from django.urls import NoReverseMatch, reverse

    from sandbox.testing import running_sandbox
    from sandbox.tests.helpers import KeyServer

    try:
        reverse("vehicles:list")
        urlconf = settings.ROOT_URLCONF
    except NoReverseMatch:  # until fleetportal/urls.py includes vehicles.urls
        urlconf = "vehicles.tests.urls"

    with (
        test_database(),
        running_sandbox() as sandbox,
        KeyServer.running() as keys,
        override_settings(ROOT_URLCONF=urlconf, ALLOWED_HOSTS=["*"]),
    ):
        client = sandbox_client(sandbox.control, keys.domain)

        small = _list_page(SMALL, "small@example.com")
        large = _list_page(LARGE, "large@example.com")
        report(
            f"vehicle list page: {LARGE:,} vehicles vs {SMALL} (median of {RENDERS} renders)",
            [
                ("", f"{SMALL:>10} {LARGE:>10} {'ratio':>8}"),
                ("queries", f"{small[0]:>10} {large[0]:>10} {large[0] / small[0]:>8.2f}"),
                (
                    "render ms",
                    f"{small[1] * 1e3:>10.1f} {large[1] * 1e3:>10.1f} {large[1] / small[1]:>8.2f}",
                ),
                ("HTML bytes", f"{small[2]:>10} {large[2]:>10} {large[2] / small[2]:>8.2f}"),
            ],
        )
        report(f"sync of {SYNC_VEHICLES:,} vehicles (in-process sandbox)", _sync(sandbox, client))


if __name__ == "__main__":
    main()
