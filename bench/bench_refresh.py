"""Token keeping at scale: one beat sweep over 2,000 due links, the sandbox's token endpoint
answering after 50 ms, refreshed by a real worker process.

Prints wall time against the ideal (links x latency / worker concurrency) as a ratio, and
database queries per refresh with 10 and with 2,000 links in the table. Needs PostgreSQL and
a network broker (the worker process shares the database): `make bench` sets both.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import (
    BENCH_REDIRECT,
    count_queries,
    database_url,
    django_setup,
    report,
    sandbox_process,
    test_database,
    user_tokens,
    worker_process,
)

LINKS = int(os.environ.get("BENCH_LINKS", "2000"))
LATENCY = 0.05
USER = "alice@example.com"  # each consent starts a new token chain, as a new link would
CONCURRENCIES = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "4,8,16").split(",")]


def _make_links(user, pairs: list[tuple[str, str]], start: int) -> None:
    from django.utils import timezone

    from accounts.models import TeslaLink

    now = timezone.now()
    TeslaLink.objects.bulk_create(
        TeslaLink(
            user=user,
            auth_server="global",
            subject=f"bench-{start + i}",
            region="NA",
            fleet_api_base_url="http://unused.invalid",
            scopes=["openid", "offline_access", "user_data", "vehicle_device_data"],
            access_token=access,
            refresh_token=refresh,
            access_token_expires_at=now + dt.timedelta(minutes=5),
            refresh_token_issued_at=now,
        )
        for i, (access, refresh) in enumerate(pairs)
    )


def _queries_per_refresh(sample: int = 5) -> float:
    from accounts import services
    from accounts.models import TeslaLink

    ids = list(TeslaLink.objects.order_by("pk").values_list("pk", flat=True)[:sample])
    total = 0
    for link_id in ids:
        _, n = count_queries(lambda i=link_id: services.link_refresh_tokens(link_id=i, force=True))
        total += n
    return total / len(ids)


def main() -> None:
    django_setup()
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        print("bench_refresh: skipped, needs DATABASE_URL=postgres://… (see `make bench`)")
        return
    from accounts.models import User

    with test_database() as db, sandbox_process() as control:
        settings.TESLA_ENV = "sandbox"
        settings.TESLA_SANDBOX_URL = control.url
        settings.TESLA_REFRESH_BATCH = LINKS
        client = control.register_client(server="global", redirect_uris=[BENCH_REDIRECT])
        settings.TESLA_CLIENT_ID = client["client_id"]
        settings.TESLA_CLIENT_SECRET = client["client_secret"]
        user = User.objects.create_user("bench@example.com", "x")

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            tokens = list(pool.map(lambda _: user_tokens(client, USER), range(LINKS)))
        pairs = [(t.access_token, t.refresh_token) for t in tokens]
        setup_seconds = time.monotonic() - started
        _make_links(user, pairs[:10], 0)
        queries_small = _queries_per_refresh()
        _make_links(user, pairs[10:], 10)
        queries_large = _queries_per_refresh()
        control.fault("token", latency=LATENCY)
        env = {
            "DATABASE_URL": database_url(db),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "TESLA_ENV": "sandbox",
            "TESLA_SANDBOX_URL": control.url,
            "TESLA_CLIENT_ID": client["client_id"],
            "TESLA_CLIENT_SECRET": client["client_secret"],
        }
        rows = []
        for concurrency in CONCURRENCIES:
            wall, queued, calls = _sweep(control, env, concurrency)
            ideal = LINKS * LATENCY / concurrency
            rows.append(
                (
                    f"prefork x{concurrency}",
                    f"{queued} queued, {calls} token calls, wall {wall:6.2f} s, "
                    f"ideal {ideal:6.2f} s, ratio {wall / ideal:.2f}",
                )
            )

    report(
        f"token refresh sweep: {LINKS} due links, token endpoint {LATENCY * 1000:.0f} ms "
        "(target: ratio wall / ideal <= 1.3)",
        [
            *rows,
            ("queries per refresh, 10 links in table", f"{queries_small:.1f}"),
            (f"queries per refresh, {LINKS} links in table", f"{queries_large:.1f}"),
            ("setup (consents + code exchanges)", f"{setup_seconds:.1f} s"),
        ],
    )


def _sweep(control, env: dict[str, str], concurrency: int) -> tuple[float, int, int]:
    """Make every link due, run one sweep on a fresh worker, time until all are refreshed."""
    from django.utils import timezone

    from accounts import tasks
    from accounts.models import RefreshAttempt, TeslaLink

    # Every link due now, and a version to watch: each refresh bumps it to 1.
    TeslaLink.objects.update(
        access_token_expires_at=TeslaLink.objects.first().refresh_token_issued_at,
        token_version=0,
        refresh_queued_at=None,
    )
    with worker_process(env, pool="prefork", concurrency=concurrency):
        started_at = timezone.now()
        t0 = time.monotonic()
        queued = tasks.links_refresh_sweep()
        deadline = t0 + max(120, 20 * LINKS * LATENCY / concurrency)
        while TeslaLink.objects.filter(token_version__lt=1).exists():
            if time.monotonic() > deadline:
                left = TeslaLink.objects.filter(token_version__lt=1).count()
                raise RuntimeError(f"{left} links not refreshed; see var/bench-worker.log")
            time.sleep(0.05)
        wall = time.monotonic() - t0
    # The sandbox keeps only the last 500 requests; every token call leaves an attempt row.
    calls = RefreshAttempt.objects.filter(created_at__gte=started_at).count()
    return wall, queued, calls


if __name__ == "__main__":
    main()
