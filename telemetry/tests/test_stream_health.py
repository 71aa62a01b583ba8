"""/healthz's stream report, from the consumers' heartbeat rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from telemetry.models import StreamConsumer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("worker_and_beat_up")]


def stream(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200  # the stream never fails the web probe
    return response.json()["stream"]


def test_no_consumer(client):
    assert stream(client) == {"status": "no_consumer"}


def test_connected_consumer_and_last_message_age(client):
    now = timezone.now()
    StreamConsumer.objects.create(
        client_id="a",
        connected=True,
        heartbeat_at=now,
        last_message_at=now - dt.timedelta(seconds=42),
    )
    report = stream(client)
    assert report["status"] == "ok"
    assert (report["consumers"], report["connected"]) == (1, 1)
    assert 42 <= report["last_message_age_s"] < 60


def test_consumer_without_its_broker_is_disconnected(client):
    StreamConsumer.objects.create(client_id="a", connected=False, heartbeat_at=timezone.now())
    report = stream(client)
    assert report == {
        "status": "disconnected",
        "consumers": 1,
        "connected": 0,
        "last_message_age_s": None,
    }


def test_a_consumer_whose_heartbeat_stopped_is_down(client):
    old = timezone.now() - dt.timedelta(minutes=5)
    StreamConsumer.objects.create(client_id="a", connected=True, heartbeat_at=old)
    assert stream(client)["status"] == "down"
