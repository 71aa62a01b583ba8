from __future__ import annotations

import pytest

from usage import recorder


@pytest.fixture(autouse=True)
def _fresh_recorder():
    """Each test starts and ends with nothing counted and no stop in this process."""
    recorder.discard()
    yield
    recorder.discard()
