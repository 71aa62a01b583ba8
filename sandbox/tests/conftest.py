"""The `sandbox` fixture: one server per session, a fresh seeded world per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.testing import SandboxHandle, running_sandbox
from sandbox.tests.helpers import KeyServer, register_partner


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def sandbox(_sandbox_server: SandboxHandle) -> SandboxHandle:
    # Reset keeps the RSA key and demo secrets, so resetting is cheap and start-up happens once.
    _sandbox_server.control.reset()
    return _sandbox_server


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    """A tiny local http.server hosting a freshly generated P-256 public key."""
    with KeyServer.running() as server:
        yield server


@pytest.fixture
def registered(sandbox: SandboxHandle, key_server: KeyServer) -> KeyServer:
    """The global demo client registered as partner in NA and EU, the cn one in CN."""
    for region in ("na", "eu", "cn"):
        resp = register_partner(sandbox, key_server.domain, region)
        assert resp.status_code == 200, resp.text
    return key_server
