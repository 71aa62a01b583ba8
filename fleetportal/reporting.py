"""What Django's error reports (the DEBUG page, and the mails to ADMINS) may show of settings.

Django masks settings whose names contain API, TOKEN, KEY, SECRET, PASS or SIGNATURE. This
portal also keeps credentials inside URLs (TELEMETRY_MQTT_URL=mqtts://user:password@host,
CELERY_BROKER_URL, CACHE_URL, DATABASE_URL), so every setting named *URL* or *DSN* is masked
too.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class ReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN", flags=re.IGNORECASE
    )
