"""Error reports (DEBUG page, mails to ADMINS) never show a credential kept in a URL."""

from __future__ import annotations

from django.views.debug import get_default_exception_reporter_filter


def test_error_reports_mask_settings_that_hold_credentials_in_urls(settings):
    settings.TELEMETRY_MQTT_URL = "mqtts://stream:hunter2@broker.example:8883"
    settings.CELERY_BROKER_URL = "redis://:hunter2@redis.example:6379/0"
    safe = get_default_exception_reporter_filter().get_safe_settings()
    assert "hunter2" not in repr(safe)
    assert safe["TELEMETRY_MQTT_URL"] == "********************"
    # What is not a credential still shows.
    assert safe["TELEMETRY_MQTT_TOPIC_BASE"] == settings.TELEMETRY_MQTT_TOPIC_BASE
