from __future__ import annotations

from telemetry.tests.conftest import portal_key  # noqa: F401 (the push test's signing key)
