"""Telemetry push at scale: one config pushed to 1,000 vehicles across 500 linked accounts,
the sandbox's `fleet_telemetry_config_jws` answering after 50 ms, run by a real worker
process (one task per TELEMETRY_PUSH_CHUNK links, each chunk's links pushed in parallel on
the worker process's kept threads).

Prints wall time against the ideal (calls x latency / calls in flight: worker processes x
threads, each process sized by the README's connection rule) as a ratio, and
HTTP calls and database queries per vehicle for a small and the full size (target: ratio
<= 1.5, queries per vehicle that do not grow with the number of vehicles). Needs PostgreSQL
and a network broker (the worker process shares the database): `make bench` sets both.
`.venv/bin/python -m bench.bench_telemetry`

CPU is read from /proc (bench/cpu.py) for the worker's process group, PostgreSQL (less other
databases' backends), Redis, the sandbox and this process, over a window that opens once the
worker answers a ping and closes when the run is no longer active; each worker push prints
it per link and per process, with the machine's busy time and the neighbours' load beside it.

Ends with two machine-readable lines (target: CPU <= 10 ms per link, queries per link
constant in the number of links and of vehicles per link):
  bench: push.cpu_ms_per_link=<CPU of every measured process over the worker pushes' windows
                               / links they pushed, all concurrencies together>
  bench: push.queries_per_link=<queries of the chunk tasks of the full in-process push, on
                                every thread / links>
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from bench.common import (
    add_cars,
    bench_link,
    celery_worker,
    count_queries,
    django_setup,
    on_postgres,
    report,
    sandbox_client,
    sandbox_server,
    test_database,
    thread_sessions,
    token_chains,
    wait_until,
    worker_env,
)
from bench.cpu import CpuWindow, cpu_rows, stack_meter

VEHICLES = int(os.environ.get("BENCH_TELEMETRY_VEHICLES", "1000"))
# 500 accounts: a worker's one-off start (a connection and a TLS session per thread) is then
# a small part of the per-link figure, as in a fleet-wide push.
LINKS = int(os.environ.get("BENCH_TELEMETRY_LINKS", "500"))
SMALL_LINKS = max(1, LINKS // 10)
LATENCY = 0.05
CONCURRENCIES = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "4,8,16").split(",")]
USER = "nora@example.com"  # seeded with no cars: the bench adds its own


def _world(control, client: dict[str, str], domain: str) -> list[list[int]]:
    """LINKS links of one sandbox user, VEHICLES paired cars split evenly between them;
    returns the vehicle ids per link."""
    from django.utils import timezone

    from accounts.models import TeslaLink, User
    from sandbox.testing import Control
    from vehicles.models import Vehicle, VehicleAccess

    vins = add_cars(control, USER, VEHICLES)
    with thread_sessions() as session, ThreadPoolExecutor(max_workers=16) as pool:
        # A Control per call on the thread's own session (see thread_sessions).

        def pair(vin: str) -> None:
            Control(control.url, session(), control.verify).pair(vin, domain)

        list(pool.map(pair, vins))
    tokens = token_chains(client, USER, LINKS, threads=16)
    user = User.objects.create_user("bench@example.com", "x")
    links = TeslaLink.objects.bulk_create(
        bench_link(
            user,
            f"bench-{n}",
            (t.access_token, t.refresh_token),
            fleet_api_base_url=f"{control.url}/fleet/na",
            expires_in=dt.timedelta(hours=8),
        )
        for n, t in enumerate(tokens)
    )
    vehicles = Vehicle.objects.bulk_create(Vehicle(vin=vin, region="NA") for vin in vins)
    per_link: list[list[int]] = [[] for _ in links]
    accesses = []
    now = timezone.now()
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
    link_queries: int  # the chunk tasks' alone (every thread), without the start and dispatch
    link_cpu: float  # this process's CPU seconds in the link tasks (no worker, no sandbox)


def _inline(control, config) -> Inline:
    """Run one push in this process as a worker runs it: chunk after chunk of
    TELEMETRY_PUSH_CHUNK links, each chunk's links on the process's kept threads."""
    from django.conf import settings

    from fleetportal import workers
    from telemetry import selectors, services

    links = {"n": 0, "queries": 0, "cpu": 0.0}

    def push():
        run = services.telemetry_push_start(config=config, user=None)
        link_ids = services.telemetry_push_dispatch(run_id=run.pk)
        size = settings.TELEMETRY_PUSH_CHUNK
        for chunk in (link_ids[i : i + size] for i in range(0, len(link_ids), size)):
            cpu = time.process_time()
            _, queries = count_queries(
                lambda c=chunk: services.telemetry_push_chunk(run_id=run.pk, link_ids=c)
            )
            links["cpu"] += time.process_time() - cpu
            links["n"] += len(chunk)
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
    workers.shutdown()  # the kept threads' connections, before the database is dropped
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
    from telemetry.services.signing import signed_token
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


class Pushed(NamedTuple):
    """One push by a worker process."""

    wall: float
    calls: int
    phases: str
    links: int
    window: CpuWindow


# PostgreSQL connections the bench lets its workers hold (the server allows 100 by default):
# each worker process may hold TESLA_REFRESH_THREADS + 1 (README, "Sizing the workers"), so
# a high concurrency gets fewer threads, as an operator sizing by that rule would give it.
WORKER_CONNECTIONS = int(os.environ.get("BENCH_WORKER_CONNECTIONS", "80"))
THREADS = int(os.environ.get("BENCH_TELEMETRY_THREADS", "8"))


def _threads(concurrency: int) -> int:
    return max(1, min(THREADS, WORKER_CONNECTIONS // concurrency - 1))


def _on_worker(sandbox, env: dict[str, str], config, concurrency: int, database: str) -> Pushed:
    """One push of `config` by a fresh prefork worker; the CPU window holds the push alone
    (the worker answers a ping before it opens) and closes before the worker stops, whose
    processes leave /proc when it does."""
    from telemetry import services
    from telemetry.models import TelemetryRun

    control = sandbox.control
    env = {**env, "TESLA_REFRESH_THREADS": str(_threads(concurrency))}
    with celery_worker(env, pool="prefork", concurrency=concurrency) as worker:
        control.clear_requests()
        meter = stack_meter(worker_group=worker.pid, sandbox_pid=sandbox.pid, database=database)
        meter.start()
        t0 = time.monotonic()
        run = services.telemetry_push_start(config=config, user=None)
        active = TelemetryRun.objects.filter(pk=run.pk, status__in=TelemetryRun.ACTIVE)
        wait_until(
            lambda: not active.exists(),
            max(120.0, 20 * LINKS * LATENCY),
            "the push to finish (see var/bench-worker.log)",
            every=0.01,
        )
        wall = time.monotonic() - t0
        window = meter.stop()
    calls = len(control.requests(path="fleet_telemetry_config_jws"))
    run = TelemetryRun.objects.get(pk=run.pk)
    return Pushed(wall, calls, _phases(run.pk), run.links_done, window)


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

    if not on_postgres("bench_telemetry"):
        return
    from partners import services as partner_services
    from sandbox.tests.helpers import KeyServer

    with test_database() as db, sandbox_server() as sandbox, KeyServer.running() as keys:
        control = sandbox.control
        client = sandbox_client(control, keys.domain)
        settings.TESLA_PARTNER_DOMAIN = keys.domain
        settings.TESLA_PRIVATE_KEY_FILE = ""
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
        env = worker_env(db, control, client, TESLA_PARTNER_DOMAIN=keys.domain)
        pushes = [(n, _on_worker(sandbox, env, config, n, db["NAME"])) for n in CONCURRENCIES]

    _print(pushes, small, large, emulator_ms, setup)


def _print(
    pushes: list[tuple[int, Pushed]], small: Inline, large: Inline, emulator_ms: float, setup: float
) -> None:
    from django.conf import settings

    chunked = hasattr(settings, "TELEMETRY_PUSH_CHUNK")  # a portal that pushes on threads
    for concurrency, push in pushes:
        in_flight = concurrency * (_threads(concurrency) if chunked else 1)
        ideal = push.calls * LATENCY / in_flight
        report(
            f"telemetry push, prefork x{concurrency} ({_threads(concurrency)} threads each, where "
            f"the portal has them): {VEHICLES:,} vehicles across {LINKS} links, "
            f"fleet_telemetry_config_jws {LATENCY * 1000:.0f} ms",
            [
                ("push calls / links pushed", f"{push.calls} / {push.links}"),
                ("wall, push start to run closed", f"{push.wall:.2f} s"),
                ("ideal = calls x latency / in flight", f"{ideal:.2f} s ({in_flight} in flight)"),
                ("wall / ideal (target <= 1.5)", f"{push.wall / ideal:.2f}"),
                ("phases", push.phases),
                *cpu_rows(push.window, push.links, "CPU ms per link, all measured",
                          target=" (target <= 10)"),
            ],
        )  # fmt: skip

    def per_vehicle(figures: Inline) -> str:
        total, queries, calls, counts, wall = figures[:5]
        outcome = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return (
            f"{total} vehicles: {queries / total:.2f} queries, {calls / total:.3f} HTTP calls "
            f"per vehicle ({queries} queries, {calls} calls; {outcome}; "
            f"{wall / max(calls, 1) * 1000:.0f} ms per call, no added latency)"
        )

    report(
        "telemetry push, in the bench process",
        [
            (f"{SMALL_LINKS} links, in-process", per_vehicle(small)),
            (f"{LINKS} links, in-process", per_vehicle(large)),
            (
                "sandbox service time per call",
                f"{emulator_ms:.1f} ms (from one client, no added latency)",
            ),
            (
                "queries per link in the chunk tasks, in-process",
                f"{small.link_queries / small.links:.1f} ({small.links} links), "
                f"{large.link_queries / large.links:.1f} ({large.links} links)",
            ),
            (
                "CPU per link task, in-process",
                f"{small.link_cpu * 1000 / small.links:.1f} ms ({small.links} links), "
                f"{large.link_cpu * 1000 / large.links:.1f} ms ({large.links} links; "
                "this process alone: no Celery, the connection kept open)",
            ),
            ("setup (cars, pairing, consents), untimed", f"{setup:.1f} s"),
        ],
    )
    measured = sum(push.window.measured for _, push in pushes)
    links = sum(push.links for _, push in pushes)
    print(f"bench: push.cpu_ms_per_link={measured * 1000 / links:.2f}")
    print(f"bench: push.queries_per_link={large.link_queries / large.links:.2f}")


if __name__ == "__main__":
    main()
