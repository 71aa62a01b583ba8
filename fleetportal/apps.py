"""The portal-wide app: makes an SQLite database file private when it is opened, and says
at start when the portal is a rehearsal against the sandbox."""

from __future__ import annotations

import logging
import os

from django.apps import AppConfig
from django.conf import settings
from django.db.backends.signals import connection_created


def _private_sqlite_file(sender, connection, **kwargs) -> None:
    """SQLite creates its file 0644 (umask): tokens are encrypted, but users and sessions are
    not. Its journal and WAL files copy this mode."""
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        os.chmod(connection.settings_dict["NAME"], 0o600)


class FleetportalConfig(AppConfig):
    name = "fleetportal"

    def ready(self) -> None:
        connection_created.connect(_private_sqlite_file, dispatch_uid="fleetportal-private-sqlite")
        if settings.TESLA_REHEARSAL:
            # Every process (web, worker, beat) says it at start: no Tesla is reached from here.
            logging.getLogger("fleetportal").warning(
                "REHEARSAL: TESLA_REHEARSAL is on, this portal talks to the Tesla sandbox at %s, "
                "not Tesla.",
                settings.TESLA_SANDBOX_URL,
            )
