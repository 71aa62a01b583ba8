"""Telemetry push at scale: one config pushed to 1,000 vehicles across 50 linked accounts,
the sandbox's `fleet_telemetry_config_jws` answering after 50 ms, run by a real worker
process (one task per link, so links are pushed in parallel).

Prints wall time against the ideal (calls x latency / worker concurrency) as a ratio, and
HTTP calls and database queries per vehicle for a small and the full size (target: ratio
<= 1.5, queries per vehicle that do not grow with the number of vehicles). Needs PostgreSQL
and a network broker (the worker process shares the database): `make bench` sets both.
`.venv/bin/python -m bench.bench_telemetry`

Ends with two machine-readable lines (target: CPU <= 10 ms per link, queries per link
constant in the number of links and of vehicles per link):
  bench: push.cpu_ms_per_link=<CPU of every process involved over the worker pushes / links>
  bench: push.queries_per_link=<queries of the link tasks of the full in-process push / links>
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

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
from bench.procstat import CpuWindow, by_comm, descendants

VEHICLES = int(os.environ.get("BENCH_TELEMETRY_VEHICLES", "1000"))
LINKS = int(os.environ.get("BENCH_TELEMETRY_LINKS", "50"))
SMALL_LINKS = max(1, LINKS // 10)
LATENCY = 0.05
CONCURRENCIES = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "4,8,16").split(",")]
USER = "nora@example.com"  # seeded with no cars: the bench adds its own


def _world(control, client: dict[str, str], domain: str) -> list[list[int]]:
    """LINKS links of one sandbox user, VEHICLES paired cars split evenly between them;
    returns the vehicle ids per link."""
    from django.utils import timezone

    from accounts.models import TeslaLink, User
    from vehicles.models import Vehicle, VehicleAccess

    vins: list[str] = []
    while len(vins) < VEHICLES:  # the control API adds at most 1,000 per call
        vins += control.add_vehicles(USER, min(1000, VEHICLES - len(vins)))
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda vin: control.pair(vin, domain), vins))
        tokens = list(pool.map(lambda _: user_tokens(client, USER), range(LINKS)))
    now = timezone.now()
    user = User.objects.create_user("bench@example.com", "x")
    links = TeslaLink.objects.bulk_create(
        TeslaLink(
            user=user,
            auth_server="global",
            subject=f"bench-{n}",
            region="NA",
            fleet_api_base_url=f"{control.url}/fleet/na",
            scopes=["openid", "offline_access", "user_data", "vehicle_device_data"],
            access_token=t.access_token,
            refresh_token=t.refresh_token,
            access_token_expires_at=now + dt.timedelta(hours=8),
            refresh_token_issued_at=now,
        )
        for n, t in enumerate(tokens)
    )
    vehicles = Vehicle.objects.bulk_create(Vehicle(vin=vin, region="NA") for vin in vins)
    per_link: list[list[int]] = [[] for _ in links]
    accesses = []
    for n, vehicle in enumerate(vehicles):
        slot = n % LINKS
        per_link[slot].append(vehicle.pk)
        accesses.append(
            VehicleAccess(link=links[slot], vehicle=vehicle, tesla_id=str(n), last_seen_at=now)
        )
    VehicleAccess.objects.bulk_create(accesses)
    return per_link


def _config(name: str, vehicle_ids: list[int]):
    from telemetry.models import TelemetryAssignment, TelemetryConfig
    from telemetry.tests.factories import make_config

    TelemetryAssignment.objects.filter(vehicle_id__in=vehicle_ids).delete()
    config = make_config(name=name, hostname="127.0.0.1")
    TelemetryAssignment.objects.bulk_create(
        TelemetryAssignment(config=config, vehicle_id=pk) for pk in vehicle_ids
    )
    return TelemetryConfig.objects.get(pk=config.pk)


class Inline(NamedTuple):
    vehicles: int
    queries: int
    calls: int
    counts: dict[str, int]
    wall: float
    links: int
    link_queries: int  # the link tasks' alone, without the start and dispatch
    link_cpu: float  # this process's CPU seconds in the link tasks (no worker, no sandbox)


def _inline(control, config) -> Inline:
    """Run one push in this process, link after link."""
    from telemetry import selectors, services

    links = {"n": 0, "queries": 0, "cpu": 0.0}

    def push():
        run = services.telemetry_push_start(config=config, user=None)
        for link_id in services.telemetry_push_dispatch(run_id=run.pk):
            cpu = time.process_time()
            _, queries = count_queries(
                lambda i=link_id: services.telemetry_push_link(run_id=run.pk, link_id=i)
            )
            links["cpu"] += time.process_time() - cpu
            links["n"] += 1
            links["queries"] += queries
        return run

    control.clear_requests()
    started = time.monotonic()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        run, queries = profile.runcall(count_queries, push)
        pstats.Stats(profile).sort_stats(
            os.environ.get("BENCH_PROFILE_SORT", "cumulative")
        ).print_stats(25)
    else:
        run, queries = count_queries(push)
    wall = time.monotonic() - started
    calls = len(control.requests())
    return Inline(
        run.total,
        queries,
        calls,
        selectors.run_counts(run),
        wall,
        links["n"],
        links["queries"],
        links["cpu"],
    )


def _emulator_ms(vehicle_ids: list[int], calls: int = 20) -> float:
    """The sandbox's own time for one call (no added latency), measured from a client that
    does nothing else: the floor the emulator puts under any push."""
    from accounts.services import link_fleet_call
    from telemetry import services
    from telemetry.models import TelemetryConfig
    from telemetry.services.push import signed_token
    from vehicles.models import VehicleAccess

    accesses = VehicleAccess.objects.filter(vehicle_id__in=vehicle_ids).select_related(
        "link", "vehicle"
    )
    link = accesses[0].link
    vins = [a.vehicle.vin for a in accesses]
    config = TelemetryConfig.objects.get(name="bench")
    token = signed_token(services.telemetry_version_current(config=config))
    started = time.monotonic()
    for _ in range(calls):
        link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_config_jws(vins, token))
    return (time.monotonic() - started) / calls * 1000


def _sandbox(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"sandbox" in f.read().split(b"\0")
    except OSError:
        return False


def _cpu_window() -> CpuWindow:
    """Every process a push involves: the worker and its pool (this process's children but
    the sandbox), the sandbox, the PostgreSQL backends and Redis. This process only starts
    the run and polls for its end, and is left out."""
    me = os.getpid()
    return CpuWindow(
        {
            "worker": lambda: [p for p in descendants(me) if not _sandbox(p)],
            "sandbox": lambda: [p for p in descendants(me) if _sandbox(p)],
            "postgres": lambda: by_comm("postgres"),
            "redis": lambda: by_comm("redis-server"),
        }
    )


def _worker_ready(concurrency: int, timeout: float = 60.0) -> None:
    """Wait until the worker answers a ping (its pool forked, its consumer on the broker),
    so the timed window holds the push and not the worker's start."""
    from fleetportal.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("the worker did not answer a ping; see var/bench-worker.log")


def _on_worker(
    control, env: dict[str, str], config, concurrency: int, cpu: CpuWindow
) -> tuple[float, int, str, int]:
    from telemetry import services
    from telemetry.models import TelemetryRun

    with worker_process(env, pool="prefork", concurrency=concurrency):
        _worker_ready(concurrency)
        control.clear_requests()
        cpu.start()
        t0 = time.monotonic()
        run = services.telemetry_push_start(config=config, user=None)
        deadline = t0 + max(120.0, 20 * LINKS * LATENCY)
        while TelemetryRun.objects.filter(pk=run.pk, status__in=TelemetryRun.ACTIVE).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("push did not finish; see var/bench-worker.log")
            time.sleep(0.01)
        wall = time.monotonic() - t0
        # Read before the worker stops: the CPU of an exited process is gone from /proc.
        cpu.stop()
    calls = len(control.requests(path="fleet_telemetry_config_jws"))
    run = TelemetryRun.objects.get(pk=run.pk)
    return wall, calls, _phases(run.pk), run.links_done


def _phases(run_id: int) -> str:
    """Where the wall time went: queueing, the first answer, the spread of answers, closing."""
    from django.db.models import Max, Min

    from telemetry.models import TelemetryRun

    run = TelemetryRun.objects.get(pk=run_id)
    span = run.deployments.aggregate(first=Min("pushed_at"), last=Max("pushed_at"))

    def ms(a, b) -> str:
        return f"{(b - a).total_seconds() * 1000:.0f}"

    return (
        f"queued→started {ms(run.created_at, run.started_at)} ms, "
        f"→first answer {ms(run.started_at, span['first'])} ms, "
        f"first→last answer {ms(span['first'], span['last'])} ms, "
        f"→closed {ms(span['last'], run.finished_at)} ms"
    )


def main() -> None:
    django_setup()
    from cryptography.hazmat.primitives import serialization
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        print("bench_telemetry: skipped, needs DATABASE_URL=postgres://… (see `make bench`)")
        return
    from partners import services as partner_services
    from sandbox.testing import register_partner
    from sandbox.tests.helpers import KeyServer

    with test_database() as db, sandbox_process() as control, KeyServer.running() as keys:
        settings.TESLA_ENV = "sandbox"
        settings.TESLA_SANDBOX_URL = control.url
        settings.TESLA_PARTNER_DOMAIN = keys.domain
        settings.TESLA_PRIVATE_KEY_FILE = ""
        client = control.register_client(
            server="global", redirect_uris=[BENCH_REDIRECT], allowed_origins=["127.0.0.1"]
        )
        settings.TESLA_CLIENT_ID = client["client_id"]
        settings.TESLA_CLIENT_SECRET = client["client_secret"]
        register_partner(control.url, "global", client, keys.domain)
        # The portal signs with the key Tesla holds for the domain, so every car accepts.
        partner_services.partner_key_import(
            pem=keys.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        started = time.monotonic()
        per_link = _world(control, client, keys.domain)
        setup = time.monotonic() - started

        small_ids = [pk for ids in per_link[:SMALL_LINKS] for pk in ids]
        small = _inline(control, _config("bench small", small_ids))
        config = _config("bench", [pk for ids in per_link for pk in ids])
        large = _inline(control, config)

        emulator_ms = _emulator_ms(per_link[0])
        control.fault("fleet_telemetry_config_jws", latency=LATENCY)
        env = {
            "DATABASE_URL": database_url(db),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "TESLA_ENV": "sandbox",
            "TESLA_SANDBOX_URL": control.url,
            "TESLA_CLIENT_ID": client["client_id"],
            "TESLA_CLIENT_SECRET": client["client_secret"],
            "TESLA_PARTNER_DOMAIN": keys.domain,
        }
        rows = []
        cpu = _cpu_window()
        links_pushed = 0
        for concurrency in CONCURRENCIES:
            wall, calls, phases, links_done = _on_worker(control, env, config, concurrency, cpu)
            links_pushed += links_done
            ideal = calls * LATENCY / concurrency
            rows.append(
                (
                    f"prefork x{concurrency}",
                    f"{calls} push calls, wall {wall:6.2f} s, ideal {ideal:6.2f} s, "
                    f"ratio {wall / ideal:.2f}",
                )
            )
            rows.append(("", phases))

    def per_vehicle(figures: Inline) -> str:
        total, queries, calls, counts, wall = figures[:5]
        outcome = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return (
            f"{total} vehicles: {queries / total:.2f} queries, {calls / total:.3f} HTTP calls "
            f"per vehicle ({queries} queries, {calls} calls; {outcome}; "
            f"{wall / max(calls, 1) * 1000:.0f} ms per call, no added latency)"
        )

    report(
        f"telemetry push: {VEHICLES:,} vehicles across {LINKS} links, "
        f"fleet_telemetry_config_jws {LATENCY * 1000:.0f} ms (target: ratio <= 1.5)",
        [
            *rows,
            (f"{SMALL_LINKS} links, in-process", per_vehicle(small)),
            (f"{LINKS} links, in-process", per_vehicle(large)),
            (
                "sandbox service time per call",
                f"{emulator_ms:.1f} ms (one process, one lock: {LINKS} calls cannot take less "
                f"than {LINKS * emulator_ms / 1000:.2f} s at any concurrency)",
            ),
            (
                "queries per link task, in-process",
                f"{small.link_queries / small.links:.1f} ({small.links} links), "
                f"{large.link_queries / large.links:.1f} ({large.links} links)",
            ),
            (
                "CPU per link task, in-process",
                f"{small.link_cpu * 1000 / small.links:.1f} ms ({small.links} links), "
                f"{large.link_cpu * 1000 / large.links:.1f} ms ({large.links} links; "
                "this process alone: no Celery, the connection kept open)",
            ),
            (
                "CPU per link, worker pushes",
                f"{cpu.total * 1000 / links_pushed:.1f} ms over {links_pushed} links ("
                + ", ".join(
                    f"{name} {seconds * 1000 / links_pushed:.1f}"
                    for name, seconds in cpu.seconds.items()
                )
                + "; postgres and redis: every process on the host, backends that exited included)",
            ),
            ("setup (cars, pairing, consents)", f"{setup:.1f} s"),
        ],
    )
    print(f"bench: push.cpu_ms_per_link={cpu.total * 1000 / links_pushed:.2f}")
    print(f"bench: push.queries_per_link={large.link_queries / large.links:.2f}")


if __name__ == "__main__":
    main()
