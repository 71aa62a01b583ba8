from __future__ import annotations

import pytest

from telemetry.tests.conftest import portal_key  # noqa: F401 (the push test's signing key)
from usage import recorder


@pytest.fixture(autouse=True)
def _fresh_recorder():
    """Each test starts and ends with nothing counted and no stop in this process."""
    recorder.discard()
    yield
    recorder.discard()
