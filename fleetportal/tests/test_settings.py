"""Production settings refuse to start without their secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _start_production(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY"))}
    clean.pop("FIELD_ENCRYPTION_KEYS", None)
    # DJANGO_READ_DOT_ENV=False keeps a developer's `.env` from supplying the secrets.
    clean.update(
        env, DJANGO_SETTINGS_MODULE="fleetportal.settings.production", DJANGO_READ_DOT_ENV="False"
    )
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _start_production(
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(), ALLOWED_HOSTS="x.example"
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_the_key_ring():
    result = _start_production(SECRET_KEY="k" * 60, ALLOWED_HOSTS="x.example")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_production_refuses_a_key_ring_entry_that_is_not_a_fernet_key():
    result = _start_production(
        SECRET_KEY="k" * 60, FIELD_ENCRYPTION_KEYS="hunter2", ALLOWED_HOSTS="x.example"
    )
    assert result.returncode != 0
    assert "not a Fernet key" in result.stderr


def test_production_starts_with_its_secrets():
    result = _start_production(
        SECRET_KEY="k" * 60,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="x.example",
    )
    assert result.returncode == 0, result.stderr
