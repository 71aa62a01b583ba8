"""Production settings refuse weak or development configuration, one sentence per variable."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from cryptography.fernet import Fernet

from fleetportal.tests.production import ROOT, production_settings, run_production

PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'DEBUG': s.DEBUG, 'ENGINE': s.DATABASES['default']['ENGINE'], "
    "'SECRET_KEY': s.SECRET_KEY}))"
)


def _refusal(result) -> str:
    assert result.returncode != 0, "production started"
    assert "ImproperlyConfigured" in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_production_starts_with_production_grade_values():
    result = run_production()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SECRET_KEY", None),
        ("SECRET_KEY", "x"),
        ("SECRET_KEY", "a" * 60),  # long but five distinct characters short
        ("SECRET_KEY", "django-insecure-" + secrets.token_urlsafe(50)),
        ("FIELD_ENCRYPTION_KEYS", None),
        ("FIELD_ENCRYPTION_KEYS", "hunter2"),
        ("ALLOWED_HOSTS", None),
        ("ALLOWED_HOSTS", "*"),
        ("ALLOWED_HOSTS", "portal.example.com,*"),
        ("DEBUG", "True"),
        ("TESLA_ENV", "sandbox"),
        ("CACHE_URL", "locmemcache://"),
        ("CACHE_URL", None),  # the default is local memory
        ("CACHE_URL", "dummycache://"),
        ("DATABASE_URL", None),  # the default is SQLite under var/
        ("DATABASE_URL", "sqlite:////tmp/fleetportal.sqlite3"),
        ("CELERY_BROKER_URL", None),  # the default is the filesystem broker
        ("CELERY_BROKER_URL", "filesystem://"),
        ("CELERY_BROKER_URL", "memory://"),
        ("DEFAULT_FROM_EMAIL", None),
        ("DEFAULT_FROM_EMAIL", "Fleet Portal <noreply@localhost>"),  # the development default
        ("DEFAULT_FROM_EMAIL", "noreply@portal.localdomain"),
        ("DEFAULT_FROM_EMAIL", "portal.example.com"),  # a domain, no address
        ("PORTAL_PUBLIC_URL", None),
        ("PORTAL_PUBLIC_URL", "http://127.0.0.1:8000"),  # the development default
        ("PORTAL_PUBLIC_URL", "http://portal.example.com"),
        ("PORTAL_PUBLIC_URL", "portal.example.com"),
    ],
)
def test_production_refuses_a_weak_or_development_value(variable, value):
    line = _refusal(run_production(**{variable: value}))
    assert variable in line, line


def test_production_refuses_the_sandbox_and_names_the_rehearsal_switch():
    line = _refusal(run_production(TESLA_ENV="sandbox"))
    assert "TESLA_ENV" in line, line
    assert "TESLA_REHEARSAL" in line, line


REHEARSAL = {
    "TESLA_REHEARSAL": "true",
    "TESLA_ENV": "sandbox",
    "TESLA_SANDBOX_URL": "https://127.0.0.1:9443",
}


def test_a_rehearsal_starts_on_the_sandbox_over_https_and_says_so_at_start():
    result = run_production(**REHEARSAL)
    assert result.returncode == 0, result.stderr
    assert "REHEARSAL" in result.stderr
    assert "talks to the Tesla sandbox at https://127.0.0.1:9443, not Tesla" in result.stderr
    assert production_settings("TESLA_REHEARSAL", "TESLA_ENV", **REHEARSAL) == [True, "sandbox"]


def test_production_without_the_rehearsal_says_nothing_about_one():
    result = run_production()
    assert result.returncode == 0, result.stderr
    assert "REHEARSAL" not in result.stderr


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"TESLA_SANDBOX_URL": "http://127.0.0.1:8001"}, "TESLA_SANDBOX_URL"),
        ({"TESLA_SANDBOX_URL": None}, "TESLA_SANDBOX_URL"),  # the default is plain HTTP
        ({"TESLA_ENV": "production"}, "TESLA_ENV"),  # a rehearsal never reaches real Tesla
    ],
)
def test_a_rehearsal_refuses_plain_http_or_real_tesla(overrides, named):
    line = _refusal(run_production(**{**REHEARSAL, **overrides}))
    assert named in line, line
    assert "TESLA_REHEARSAL" in line, line


def test_production_mail_comes_from_the_configured_address_with_https_links():
    values = production_settings(
        "DEFAULT_FROM_EMAIL",
        "SERVER_EMAIL",
        "PORTAL_PUBLIC_URL",
        DEFAULT_FROM_EMAIL="Portal <portal@fleet.example.org>",
    )
    assert values == [
        "Portal <portal@fleet.example.org>",
        "Portal <portal@fleet.example.org>",  # error mail to ADMINS leaves from it too
        "https://portal.example.com",
    ]


def test_production_refuses_the_key_ring_holding_secret_key():
    key = Fernet.generate_key().decode() + "x" * 10
    line = _refusal(run_production(SECRET_KEY=key, FIELD_ENCRYPTION_KEYS=key))
    assert "FIELD_ENCRYPTION_KEYS must not contain SECRET_KEY" in line


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@pytest.mark.parametrize(
    "variable",
    [
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "TESLA_CLIENT_ID",
        "TESLA_CLIENT_SECRET",
        "TESLA_CN_CLIENT_ID",
        "TESLA_CN_CLIENT_SECRET",
    ],
)
def test_production_refuses_the_env_example_placeholders(variable):
    placeholder = _env_example()[variable]
    line = _refusal(run_production(**{variable: placeholder}))
    assert variable in line, line


def test_one_refusal_names_every_variable_at_fault():
    line = _refusal(run_production(DEBUG="True", ALLOWED_HOSTS="*", SECRET_KEY="x"))
    for variable in ("DEBUG", "ALLOWED_HOSTS", "SECRET_KEY"):
        assert variable in line, line


def test_sqlite_is_allowed_only_with_the_explicit_opt_in():
    result = run_production(
        PRINT_SETTINGS, DATABASE_URL="sqlite:////tmp/fp.sqlite3", ALLOW_SQLITE_IN_PRODUCTION="true"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ENGINE"] == "django.db.backends.sqlite3"


def test_production_never_reads_the_development_dot_env(tmp_path):
    # The development `.env` (written by `make run`) supplies a SECRET_KEY and DEBUG=True;
    # production must not pick either up, whether DJANGO_READ_DOT_ENV is set or not.
    dev_key = secrets.token_urlsafe(50)
    (tmp_path / ".env").write_text(f"DEBUG=True\nSECRET_KEY={dev_key}\n")
    code = (
        "import sys, pathlib; import fleetportal.settings.env as e; "
        "e.BASE_DIR = pathlib.Path(sys.argv[1]); " + PRINT_SETTINGS
    )
    result = run_production(code, str(tmp_path), DJANGO_READ_DOT_ENV=None, SECRET_KEY=None)
    assert dev_key not in result.stdout
    line = _refusal(result)
    assert re.search(r"SECRET_KEY is not set", line), line


def test_a_mail_server_that_never_answers_fails_the_send_instead_of_hanging():
    """The beat's silence watch (and sign-up mails) send through SMTP: a server that takes the
    connection and then says nothing must end in an error the caller handles, not block
    the worker (or the web request) for ever."""
    import socket

    with socket.socket() as silent_server:
        silent_server.bind(("127.0.0.1", 0))
        silent_server.listen(1)  # the kernel accepts; nobody ever answers
        port = silent_server.getsockname()[1]
        code = (
            "import django; django.setup(); from django.core.mail import send_mail\n"
            "try:\n"
            "    send_mail('s', 'b', 'portal@example.com', ['staff@example.com'])\n"
            "except Exception as exc:\n"
            "    print('failed:', type(exc).__name__)\n"
        )
        result = run_production(code, EMAIL_URL=f"smtp://127.0.0.1:{port}", EMAIL_TIMEOUT="2")
    assert result.returncode == 0, result.stderr
    # smtplib words a read timeout as SMTPServerDisconnected ("timed out").
    assert re.search(r"failed: (TimeoutError|SMTPServerDisconnected)", result.stdout), result
