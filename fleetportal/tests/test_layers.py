"""The import graph keeps its contracts (pyproject.toml, [tool.importlinter]): imports point
down (telemetry > vehicles > accounts | partners > fleetportal > teslafleet), the library and
the sandbox import nothing of the portal, services never import tasks, models no
presentation. See docs/architecture.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from accounts.tasks import link_refresh
from fleetportal.tasks import TeslaTask
from telemetry.tasks import telemetry_push_link
from vehicles.tasks import vehicles_sync_link

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603 - our own virtualenv's tool, fixed arguments
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_task_that_calls_tesla_retries_through_the_one_base_task():
    for task in (link_refresh, vehicles_sync_link, telemetry_push_link):
        assert isinstance(task, TeslaTask), task.name
        # Still the app's Django task: sweeps queue it with delay_on_commit.
        assert callable(task.delay_on_commit), task.name


def test_a_service_finds_its_task_by_name_in_a_process_that_imported_no_tasks_module():
    # A web process imports no vehicles.tasks or telemetry.tasks of its own; services queue
    # by name, and the lookup imports the task's module. Nothing is set up again: a handler
    # added after start-up (an error reporter, a test's log capture) stays.
    script = (
        "import logging, sys, django; django.setup()\n"
        "assert 'vehicles.tasks' not in sys.modules\n"
        "added = logging.NullHandler(); logging.getLogger().addHandler(added)\n"
        "from fleetportal.queueing import task_named\n"
        "for name in ('vehicles.tasks.vehicles_sync_link', 'telemetry.tasks.telemetry_push',\n"
        "             'telemetry.tasks.telemetry_push_link',\n"
        "             'accounts.tasks.link_notify_needs_relink'):\n"
        "    print(task_named(name).name)\n"
        "assert added in logging.getLogger().handlers, 'logging was configured again'\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "fleetportal.settings.test"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [
        "vehicles.tasks.vehicles_sync_link",
        "telemetry.tasks.telemetry_push",
        "telemetry.tasks.telemetry_push_link",
        "accounts.tasks.link_notify_needs_relink",
    ]
