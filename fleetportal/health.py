"""/healthz: what the portal needs to do its work, and the reports the apps add.

Required parts (HEALTHZ_REQUIRED, all four by default) decide the HTTP status, 200 or 503:

- database: a `SELECT 1`;
- broker: a connection and a channel to the Celery broker;
- worker: a Celery worker answers a ping (a broadcast through the broker) within
  HEALTHZ_WORKER_TIMEOUT seconds; the answer is cached HEALTHZ_WORKER_CACHE_SECONDS, since
  monitors poll often and a ping with no worker up costs the whole timeout;
- beat: the beat process stamps a Heartbeat row when it starts and whenever it sends a task;
  a "healthz-beat" entry (CELERY_BEAT_SCHEDULE) makes it send one every minute, so a stamp
  older than HEALTHZ_BEAT_MAX_AGE_SECONDS means beat stopped (or hangs).

An app registers ``register("stream", report)`` in its AppConfig.ready; ``report()`` returns
a small JSON-able dict with a "status" key. Reports are information for operators and
monitors: they change the status only when HEALTHZ_REQUIRED names them (status "ok").

`HealthzProbeMiddleware` answers the probe from the networks in HEALTHZ_ALLOWED_NETWORKS
whatever the Host header says, so `curl http://127.0.0.1:8000/healthz` works on the host
without adding an IP address to ALLOWED_HOSTS (docs/operations.md, "Health probe").
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, signals
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)

Report = Callable[[], dict[str, Any]]

_reports: dict[str, Report] = {}

BEAT = "beat"
WORKER_CACHE_KEY = "healthz:worker"


def register(name: str, report: Report) -> None:
    _reports[name] = report


def reports() -> dict[str, dict[str, Any]]:
    """Every registered report; one that fails says so by its exception's class only."""
    result: dict[str, dict[str, Any]] = {}
    for name, report in _reports.items():
        try:
            result[name] = report()
        except Exception as exc:  # a failing report is reported, never a failing probe
            result[name] = {"status": f"error: {type(exc).__name__}"}
    return result


# --- the required parts ----------------------------------------------------------------------


class Down(Exception):
    """A part answered, and the answer says it is down (the message is safe to show)."""


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _check_broker() -> dict[str, Any]:
    from fleetportal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        # Opening a channel proves the transport works (the filesystem one checks its folders).
        conn.default_channel  # noqa: B018
    return {}


def _ping_workers() -> int:
    from fleetportal.celery import app

    return len(app.control.ping(timeout=settings.HEALTHZ_WORKER_TIMEOUT) or [])


def _check_worker() -> dict[str, Any]:
    try:
        answered = cache.get(WORKER_CACHE_KEY)
    except Exception:  # a cache outage must not hide the worker's state: ping instead
        answered = None
    if answered is None:
        answered = _ping_workers()
        try:
            cache.set(WORKER_CACHE_KEY, answered, settings.HEALTHZ_WORKER_CACHE_SECONDS)
        except Exception:
            logger.warning("healthz: could not cache the worker ping")
    if not answered:
        raise Down("no worker answered a ping")
    return {"workers": answered}


def _check_beat() -> dict[str, Any]:
    from fleetportal.models import Heartbeat

    stamp = Heartbeat.objects.filter(name=BEAT).values_list("at", flat=True).first()
    if stamp is None:
        raise Down("beat never ran")
    age = round((timezone.now() - stamp).total_seconds(), 1)
    if age > settings.HEALTHZ_BEAT_MAX_AGE_SECONDS:
        raise Down(f"beat last ran {age:.0f} s ago")
    return {"last_run_age_s": age}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": _check_database,
    "broker": _check_broker,
    "worker": _check_worker,
    "beat": _check_beat,
}


def probe() -> tuple[bool, dict[str, Any]]:
    """Every part, and whether the required ones are all "ok"; no detail that leaks (an
    unexpected failure is named by its exception's class only)."""
    checks: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            detail = check()
        except Down as exc:
            checks[name] = f"error: {exc}"
        except Exception as exc:  # any failure is a failed part, reported by class only
            checks[name] = f"error: {type(exc).__name__}"
        else:
            checks[name] = "ok"
            if detail:
                details[name] = detail
    extra = reports()

    def up(name: str) -> bool:
        if name in checks:
            return checks[name] == "ok"
        # An app's report may be required too (HEALTHZ_REQUIRED=...,stream); a misspelt
        # name fails rather than quietly requiring nothing.
        return extra.get(name, {}).get("status") == "ok"

    healthy = all(up(name) for name in settings.HEALTHZ_REQUIRED)
    body = {
        "status": "ok" if healthy else "error",
        "checks": checks,
        "required": list(settings.HEALTHZ_REQUIRED),
        **details,
        **extra,
    }
    if settings.TESLA_REHEARSAL:  # a monitor sees that this portal talks to the sandbox
        body["rehearsal"] = True
    return healthy, body


def healthz_response() -> JsonResponse:
    healthy, body = probe()
    response = JsonResponse(body, status=200 if healthy else 503)
    add_never_cache_headers(response)
    # Django logs every 5xx on django.request at ERROR, which mails ADMINS: a monitor that
    # polls a failing probe every few seconds would flood them. The probe IS the alert.
    response._has_been_logged = True  # django.utils.log.log_response's own marker
    return response


# --- beat's heartbeat --------------------------------------------------------------------------

# Set in the beat process only (beat_init): a worker or the web publishes tasks too.
_beat = {"running": False, "stamped": 0.0}
STAMP_EVERY_SECONDS = 5.0


def beat_stamp() -> None:
    """Record that beat runs now (at most every few seconds: beat sends tasks in bursts)."""
    from fleetportal.models import Heartbeat

    now = time.monotonic()
    if now - _beat["stamped"] < STAMP_EVERY_SECONDS:
        return
    try:
        Heartbeat.objects.update_or_create(name=BEAT, defaults={"at": timezone.now()})
    except Exception as exc:  # beat keeps sending tasks; healthz shows the stamp ageing
        logger.warning("beat heartbeat not recorded: %s", type(exc).__name__)
        return
    _beat["stamped"] = now


def install(app: Celery) -> None:
    """Connect beat's heartbeat (fleetportal/celery.py)."""

    @signals.beat_init.connect(weak=False)
    def _on_beat_init(**kwargs: Any) -> None:
        _beat["running"] = True
        beat_stamp()

    @signals.before_task_publish.connect(weak=False)
    def _on_publish(**kwargs: Any) -> None:
        if _beat["running"]:
            beat_stamp()


# --- the internal probe ------------------------------------------------------------------------


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in settings.HEALTHZ_ALLOWED_NETWORKS]


def probe_allowed(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in _networks())


class HealthzProbeMiddleware:
    """Answers GET /healthz from HEALTHZ_ALLOWED_NETWORKS before CommonMiddleware validates
    the Host header: a probe by IP address needs no entry in ALLOWED_HOSTS. Only this path,
    only these addresses (REMOTE_ADDR: the connecting peer, never X-Forwarded-For)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.path_info == "/healthz"
            and request.method == "GET"  # as the view (require_GET)
            and probe_allowed(request.META.get("REMOTE_ADDR", ""))
        ):
            return healthz_response()
        return self.get_response(request)
