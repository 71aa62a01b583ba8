"""What the portal writes under var/ is readable by its own user only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from django.db.utils import ConnectionHandler

from fleetportal.settings.base import filesystem_broker_options
from fleetportal.settings.env import VAR_DIR
from fleetportal.tests.production import ROOT


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _open_sqlite(path, django_db_blocker) -> None:
    """Open (and so create) an SQLite database at `path` outside the test database."""
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path}})
    with django_db_blocker.unblock():
        try:
            with handler["default"].cursor() as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS t (x int)")
        finally:
            handler.close_all()


def test_an_sqlite_database_file_is_created_0600(tmp_path, django_db_blocker):
    path = tmp_path / "db.sqlite3"
    _open_sqlite(path, django_db_blocker)
    assert _mode(path) == 0o600


def test_an_existing_world_readable_sqlite_file_is_tightened(tmp_path, django_db_blocker):
    path = tmp_path / "db.sqlite3"
    path.touch(mode=0o644)
    _open_sqlite(path, django_db_blocker)
    assert _mode(path) == 0o600


def test_the_filesystem_broker_folders_are_private(tmp_path):
    filesystem_broker_options(tmp_path / "broker")
    for folder in ("broker", "broker/queue", "broker/processed", "broker/control"):
        assert _mode(tmp_path / folder) == 0o700, folder


def test_the_embedded_defaults_make_var_private():
    VAR_DIR.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DJANGO_")
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_FILESYSTEM_DIR")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="fleetportal.settings.development", DJANGO_READ_DOT_ENV="False"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert _mode(VAR_DIR) == 0o700
    assert _mode(VAR_DIR / "broker" / "queue") == 0o700
