"""Tests: hermetic (no `.env`), fast hashing, in-memory email, throwaway folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fleetportal.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-any-deployment-0123456789"
# A throwaway Fernet key for tests only; production refuses to start without its own ring.
FIELD_ENCRYPTION_KEYS = ["dGVzdC1vbmx5LWZlcm5ldC1rZXktbm90LXNlY3JldCE="]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The in-process test worker closes its connections after each task, so none outlives a test
# (a subprocess worker test sets its own age: accounts/tests/test_refresh_batch.py).
WORKER_CONN_MAX_AGE = env.int("WORKER_CONN_MAX_AGE", default=0)  # noqa: F405

if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    # Each test run gets its own queue folder, so a running `make run` is never disturbed.
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(  # noqa: F405
        Path(tempfile.mkdtemp(prefix="fleetportal-test-broker-"))
    )

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: threads in concurrency tests then lock like separate
    # SQLite connections do (busy timeout) instead of failing with "table is locked".
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.mkdtemp(prefix="fleetportal-test-db-")) / "test.sqlite3")
    }
# The process that made the folders above: a test session in a fork of it (mutmut's workers)
# takes folders of its own (conftest.py, pytest_configure), or forks would share them.
TEST_FOLDERS_PID = os.getpid()
# No background flush thread in tests: counts reach the database at the end of each task and
# request, or when a test flushes (usage/tests).
USAGE_FLUSH_SECONDS = 0
