"""The import graph keeps its contracts (pyproject.toml, [tool.importlinter]): imports point
down (telemetry > vehicles > accounts | partners > fleetportal > teslafleet), the library and
the sandbox import nothing of the portal, services never import tasks, models no
presentation. See docs/architecture.md."""

from __future__ import annotations

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
