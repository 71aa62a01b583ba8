"""One beat, enforced by a lock (fleetportal/beat.py), on whichever database the run uses.

Two real beat processes, one killed with SIGKILL, are run by scripts/ci_production_boot.sh.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from fleetportal import beat
from fleetportal.celery import app


@pytest.fixture
def lock_file(tmp_path, monkeypatch):
    # Test SQLite databases live in memory: give the flock a real file.
    path = tmp_path / "db.sqlite3.beat-lock"
    monkeypatch.setattr(beat, "_sqlite_lock_file", lambda name: path)
    return path


@pytest.fixture
def held(lock_file):
    lock = beat.beat_lock_take()
    yield lock
    lock.release()


@pytest.mark.django_db(transaction=True)
def test_a_second_beat_lock_is_refused_while_the_first_is_held(held):
    with pytest.raises(beat.BeatAlreadyRunning) as refused:
        beat.beat_lock_take()
    assert "run exactly one beat" in str(refused.value)


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_free_again_once_its_holder_lets_go(lock_file):
    first = beat.beat_lock_take()
    first.release()
    second = beat.beat_lock_take()
    second.release()


# transaction=True: the scheduler calls close_old_connections() (see test_celery.py).
@pytest.mark.django_db(transaction=True)
def test_a_refused_scheduler_touches_no_schedule(held):
    with pytest.raises(beat.BeatAlreadyRunning):
        beat.SingleBeatScheduler(app=app)
    assert not PeriodicTask.objects.filter(name="clear-expired-sessions").exists()


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_holds_the_lock_and_mirrors_the_schedule(lock_file):
    scheduler = beat.SingleBeatScheduler(app=app)
    try:
        assert PeriodicTask.objects.filter(name="clear-expired-sessions").exists()
        with pytest.raises(beat.BeatAlreadyRunning):
            beat.beat_lock_take()
    finally:
        scheduler.beat_lock.release()


@pytest.mark.django_db(transaction=True)
def test_the_lazy_scheduler_of_beats_banner_takes_no_lock(lock_file):
    banner = beat.SingleBeatScheduler(app=app, lazy=True)
    scheduler = beat.SingleBeatScheduler(app=app)
    scheduler.beat_lock.release()
    assert banner.beat_lock is None


def test_beat_runs_the_locked_scheduler():
    assert app.conf.beat_scheduler == "fleetportal.beat:SingleBeatScheduler"


@pytest.mark.django_db(transaction=True)
def test_a_lost_lock_session_stops_beat_at_its_next_tick(lock_file):
    if connection.vendor != "postgresql":
        pytest.skip("the session lock is PostgreSQL's; flock lives as long as the process")
    scheduler = beat.SingleBeatScheduler(app=app)
    lock_connection = scheduler.beat_lock._connection
    with lock_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:  # as a database restart would
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    try:
        with pytest.raises(beat.BeatLockLost):
            scheduler.tick()
    finally:
        scheduler.beat_lock.release()
