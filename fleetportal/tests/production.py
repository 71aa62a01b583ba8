"""Start the production settings in a subprocess with a controlled environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

# Variables production reads that the test process may carry (CI's stack, a developer's shell).
CONTROLLED = (
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "ALLOW_SQLITE_IN_PRODUCTION",
    "DEFAULT_FROM_EMAIL",
    "SERVER_EMAIL",
    "PORTAL_PUBLIC_URL",
    "LOG_FORMAT",
    "ADMINS",
)


def production_env(**overrides: str | None) -> dict[str, str]:
    """Production-grade throwaway values (nothing connects at start); None removes a variable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "TESLA_")) and k not in CONTROLLED
    }
    env.update(
        DJANGO_SETTINGS_MODULE="fleetportal.settings.production",
        DJANGO_READ_DOT_ENV="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="portal.example.com",
        DATABASE_URL="postgres://fleetportal@127.0.0.1:5432/fleetportal",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CACHE_URL="redis://127.0.0.1:6379/1",
        DEFAULT_FROM_EMAIL="Fleet Portal <noreply@portal.example.com>",
        PORTAL_PUBLIC_URL="https://portal.example.com",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_production(
    code: str = "import django; django.setup()", *args: str, **overrides: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=production_env(**overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_settings(*names: str, **overrides: str | None) -> list:
    """The values of these settings as production computes them (JSON-able ones)."""
    import json

    code = (
        "import json, sys, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([getattr(s, name) for name in sys.argv[1:]]))"
    )
    result = run_production(code, *names, **overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
