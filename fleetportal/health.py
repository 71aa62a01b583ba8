"""Reports the apps add to /healthz without fleetportal importing them.

An app registers ``register("stream", report)`` in its AppConfig.ready; ``report()`` returns
a small JSON-able dict with a "status" key. Reports are information for operators and
monitors: they do not change /healthz's HTTP status, which stays about what the web process
itself needs (the database and the task broker), so a stream outage does not take the web
tier out of a load balancer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Report = Callable[[], dict[str, Any]]

_reports: dict[str, Report] = {}


def register(name: str, report: Report) -> None:
    _reports[name] = report


def reports() -> dict[str, dict[str, Any]]:
    """Every registered report; one that fails says so by its exception's class only."""
    result: dict[str, dict[str, Any]] = {}
    for name, report in _reports.items():
        try:
            result[name] = report()
        except Exception as exc:  # a failing report is reported, never a failing probe
            result[name] = {"status": f"error: {type(exc).__name__}"}
    return result
