from __future__ import annotations

import pytest
from django.urls import reverse

from fleetportal import views
from fleetportal.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker_ok(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        # telemetry's report (fleetportal/health.py): no stream consumer ever ran here.
        "stream": {"status": "no_consumer"},
    }


def test_a_failing_report_is_named_by_class_and_keeps_the_status(client, monkeypatch):
    from fleetportal import health

    def broken():
        raise ConnectionError("secret host name")

    monkeypatch.setitem(health._reports, "broken", broken)
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["broken"] == {"status": "error: ConnectionError"}
    assert "secret" not in response.content.decode()


def test_healthz_is_503_when_the_broker_is_unreachable(client, monkeypatch):
    # Nothing listens on port 1: the same code path as a broker that went away.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # Celery prefers the env
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    assert "127.0.0.1" not in response.content.decode()


def test_healthz_is_503_when_the_database_fails(client, monkeypatch):
    def broken() -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(views, "_check_database", broken)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: ConnectionError"
