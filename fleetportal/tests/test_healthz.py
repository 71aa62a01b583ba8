"""/healthz: the database, the broker, a worker that answers and a beat that runs decide the
status; the apps' reports (the stream) are information only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fleetportal import health
from fleetportal.celery import app as celery_app
from fleetportal.models import Heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat_ran():
    """Beat's stamp as the beat process leaves it when it starts (health.install)."""
    Heartbeat.objects.create(name=health.BEAT, at=timezone.now())


@pytest.fixture
def worker_answers(monkeypatch):
    monkeypatch.setattr(health, "_ping_workers", lambda: 1)


def test_healthz_is_ok_with_a_real_worker_and_beat_running(celery_worker_thread, client):
    # The beat process's own signal, as `celery beat` sends it when it starts.
    from celery import signals

    signals.beat_init.send(sender=None)
    response = client.get(reverse("healthz"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok", "worker": "ok", "beat": "ok"}
    assert body["worker"] == {"workers": 1}
    assert 0 <= body["beat"]["last_run_age_s"] < 60
    # telemetry's report: no stream consumer ever ran here.
    assert body["stream"] == {"status": "no_consumer"}


def test_healthz_is_503_when_no_worker_answers(client, beat_ran, settings):
    settings.HEALTHZ_WORKER_TIMEOUT = 0.2  # nothing will answer: do not wait the default
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["worker"] == "error: no worker answered a ping"
    assert body["checks"]["beat"] == "ok"


def test_the_worker_ping_is_cached_for_a_few_seconds(client, beat_ran, monkeypatch):
    pings = []
    monkeypatch.setattr(health, "_ping_workers", lambda: pings.append(1) or 2)
    for _ in range(3):
        assert client.get(reverse("healthz")).json()["worker"] == {"workers": 2}
    assert len(pings) == 1


def test_healthz_is_503_when_beat_never_ran(client, worker_answers):
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "error: beat never ran"


def test_healthz_is_503_when_beat_stopped(client, worker_answers, settings):
    stamp = timezone.now() - dt.timedelta(seconds=settings.HEALTHZ_BEAT_MAX_AGE_SECONDS + 30)
    Heartbeat.objects.create(name=health.BEAT, at=stamp)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["beat"].startswith("error: beat last ran ")


def test_beat_stamps_when_it_sends_a_task_and_nothing_else_does(monkeypatch):
    from fleetportal.tasks import healthz_beat

    monkeypatch.setitem(health._beat, "running", False)
    monkeypatch.setitem(health._beat, "stamped", 0.0)
    with celery_app.connection_for_write():
        healthz_beat.delay()  # the web or a worker sending a task is not beat
    assert not Heartbeat.objects.exists()
    monkeypatch.setitem(health._beat, "running", True)  # as after beat_init, in beat
    healthz_beat.delay()
    assert Heartbeat.objects.get(name=health.BEAT).at > timezone.now() - dt.timedelta(seconds=5)


def test_a_part_left_out_of_healthz_required_is_reported_but_does_not_fail(client, settings):
    settings.HEALTHZ_REQUIRED = ["database", "broker"]
    settings.HEALTHZ_WORKER_TIMEOUT = 0.2
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["checks"]["beat"] == "error: beat never ran"


def test_an_unknown_required_part_fails_the_probe(client, settings, beat_ran, worker_answers):
    settings.HEALTHZ_REQUIRED = ["database", "broker", "wroker"]
    assert client.get(reverse("healthz")).status_code == 503


def test_the_stream_fails_the_probe_only_when_required(client, settings, beat_ran, worker_answers):
    assert client.get(reverse("healthz")).status_code == 200  # no consumer ever ran
    settings.HEALTHZ_REQUIRED = [*settings.HEALTHZ_REQUIRED, "stream"]
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["stream"] == {"status": "no_consumer"}


def test_a_failing_report_is_named_by_class_and_keeps_the_status(
    client, monkeypatch, beat_ran, worker_answers
):
    def broken():
        raise ConnectionError("secret host name")

    monkeypatch.setitem(health._reports, "broken", broken)
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["broken"] == {"status": "error: ConnectionError"}
    assert "secret" not in response.content.decode()


def test_healthz_is_503_when_the_broker_is_unreachable(client, monkeypatch, beat_ran):
    # Nothing listens on port 1: the same code path as a broker that went away.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # Celery prefers the env
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    monkeypatch.setattr(health, "_ping_workers", lambda: 0)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    assert "127.0.0.1" not in response.content.decode()


def test_healthz_is_503_when_the_database_fails(client, monkeypatch, worker_answers):
    def broken() -> None:
        raise ConnectionError("database down")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: ConnectionError"


# --- the probe by IP address ------------------------------------------------------------------


def test_a_loopback_probe_by_ip_needs_no_allowed_hosts_entry(settings, beat_ran, worker_answers):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    probe = Client(REMOTE_ADDR="127.0.0.1")
    response = probe.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_public_site_still_refuses_an_unknown_host(settings, beat_ran, worker_answers):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    loopback = Client(REMOTE_ADDR="127.0.0.1")
    # Any other path from loopback goes through the Host check.
    assert loopback.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    # /healthz from outside the allowed networks too, whatever it claims to forward.
    outside = Client(REMOTE_ADDR="203.0.113.7")
    response = outside.get("/healthz", HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 400
    assert outside.get("/healthz", HTTP_HOST="portal.example.com").status_code == 200


def test_the_probe_networks_come_from_the_setting(settings, beat_ran, worker_answers):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.HEALTHZ_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/healthz", HTTP_HOST="10.0.0.5").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/healthz", HTTP_HOST="x").status_code == 400
