"""Error reports by mail to ADMINS and the JSON log format: nothing secret in either."""

from __future__ import annotations

import json
import logging

import pytest
from django.core import mail
from django.http import HttpRequest
from django.urls import path

from fleetportal.logs import JsonFormatter
from fleetportal.tests.production import production_settings, run_production

SECRETS = ("bearer-hunter2", "oauth-code-hunter2", "session-hunter2", "access-hunter2")


def boom(request: HttpRequest):
    raise RuntimeError("the view failed")


urlpatterns = [path("boom", boom)]


@pytest.fixture
def failing_view(settings):
    settings.ROOT_URLCONF = __name__
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.DEBUG = False


def _fail(client):
    response = client.get(
        "/boom",
        {"code": "oauth-code-hunter2", "access_token": "access-hunter2"},
        HTTP_AUTHORIZATION="Bearer bearer-hunter2",
        HTTP_COOKIE="sessionid=session-hunter2",
    )
    assert response.status_code == 500


@pytest.mark.django_db
def test_a_server_error_is_mailed_to_admins_without_secrets(failing_view, client):
    client.raise_request_exception = False
    _fail(client)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    text = message.subject + message.body
    assert "RuntimeError at /boom" in text and "the view failed" in text
    # Names stay readable for the operator, values are masked.
    assert "code = '********************'" in text
    assert "HTTP_AUTHORIZATION = '********************'" in text
    for secret in SECRETS:
        assert secret not in text, secret


@pytest.mark.django_db
def test_a_server_error_in_the_json_log_carries_no_secret(failing_view, client):
    client.raise_request_exception = False
    records: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: records.append(handler.format(record))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        _fail(client)
    finally:
        logger.removeHandler(handler)
    (line,) = records
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "django.request"
    assert entry["message"] == "Internal Server Error: /boom"
    assert entry["status_code"] == 500
    assert "RuntimeError: the view failed" in entry["exception"]
    for secret in SECRETS:
        assert secret not in line, secret


def test_log_format_json_writes_one_json_object_per_line():
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('fleetportal.x').warning('disk %s full', 'var')"
    )
    result = run_production(code, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "WARNING",
        "fleetportal.x",
        "disk var full",
    )


def test_admins_are_read_from_the_environment():
    (admins,) = production_settings("ADMINS", ADMINS="Ops Team <ops@example.com>, jane@example.com")
    assert admins == [["Ops Team", "ops@example.com"], ["", "jane@example.com"]]
