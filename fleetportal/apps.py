"""The portal-wide app: makes an SQLite database file private when it is opened."""

from __future__ import annotations

import os

from django.apps import AppConfig
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
