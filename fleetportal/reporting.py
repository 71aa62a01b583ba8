"""What Django's error reports (the DEBUG page, and the mails to ADMINS) may show of settings.

Django masks settings whose names contain API, TOKEN, KEY, SECRET, PASS or SIGNATURE. This
portal also keeps credentials inside URLs (TELEMETRY_MQTT_URL=mqtts://user:password@host,
CELERY_BROKER_URL, CACHE_URL, DATABASE_URL), so every setting named *URL* or *DSN* is masked
too, and so is what carries a credential in a request: the Authorization header, and the
query string (the OAuth callback's `code`; a token someone pasted into a URL), which
`Reporter` also drops from the request URL and the GET parameters it lists.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter


class ReporterFilter(SafeExceptionReporterFilter):
    # Matched against setting names and request.META keys alike.
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|AUTH|QUERY_STRING|URI",
        flags=re.IGNORECASE,
    )


class Reporter(ExceptionReporter):
    """Django's report without the query string: the URL is shown up to its path, and every
    GET parameter is listed by name with its value masked."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if "request_insecure_uri" in data:
            data["request_insecure_uri"] = data["request_insecure_uri"].split("?", 1)[0]
        if "request_GET_items" in data:
            substitute = self.filter.cleansed_substitute
            data["request_GET_items"] = [(name, substitute) for name in self.request.GET]
        return data
