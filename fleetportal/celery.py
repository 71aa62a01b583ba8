"""The Celery application: worker and beat both start from here."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetportal.settings.development")

app = Celery("fleetportal")
# Every CELERY_* Django setting configures the app (see settings/base.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Workers keep their database connections and HTTP sessions between tasks (fleetportal/workers.py).
from fleetportal import workers  # noqa: E402

workers.install(app)

# Beat stamps its heartbeat for /healthz (fleetportal/health.py).
from fleetportal import health  # noqa: E402

health.install(app)
