"""The portal-wide tables: only what no app owns."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """When a process that serves no request last showed it runs (beat: fleetportal/health.py).

    In the database, not the cache: every process of every host sees it, also in development
    where each process has its own local-memory cache."""

    name = models.CharField(max_length=32, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
