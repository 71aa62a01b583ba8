"""The observer hook: every answered request is heard (a 421 and its retry are two), a
refusal in before_request sends nothing, and 403 EXCEEDED_LIMIT is its own error."""

from __future__ import annotations

import pytest
import requests
import responses

from teslafleet.fleet import (
    AccountDisabled,
    FleetClient,
    FleetObserver,
    MissingScopes,
    ServerError,
    TransportError,
)
from teslafleet.regions import PRODUCTION

NA = "https://fleet-api.prd.na.vn.cloud.tesla.com"
EU = "https://fleet-api.prd.eu.vn.cloud.tesla.com"
VIN = "5YJ3000000NEXUS01"


class Recorder(FleetObserver):
    def __init__(self, refuse: bool = False) -> None:
        self.heard: list[tuple[str, str, int, str]] = []
        self.disabled: list[str] = []
        self.refuse = refuse

    def before_request(self, method: str, path: str, base_url: str) -> None:
        if self.refuse:
            raise AccountDisabled("stopped", status=403, error="EXCEEDED_LIMIT")

    def on_response(self, method: str, path: str, status: int, base_url: str) -> None:
        self.heard.append((method, path, status, base_url))

    def on_account_disabled(self, base_url: str, error: AccountDisabled) -> None:
        self.disabled.append(base_url)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _client(observer: FleetObserver) -> FleetClient:
    allowed = PRODUCTION.fleet_allowlist("global")
    return FleetClient(NA, "token", allowed_base_urls=allowed, observer=observer)


def test_each_answer_is_heard_with_its_status_and_region(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}",
        json={"response": None, "error": f"user out of region, use base URL: {EU}"},
        status=421,
    )
    mocked.get(f"{EU}/api/1/vehicles/{VIN}", json={"response": {"id": 1}})
    mocked.post(f"{EU}/api/1/vehicles/{VIN}/wake_up", json={"response": None}, status=503)
    observer = Recorder()
    api = _client(observer)
    api.vehicle(VIN)
    with pytest.raises(ServerError):
        api.wake_up(VIN)
    assert observer.heard == [
        ("GET", f"/api/1/vehicles/{VIN}", 421, NA),
        ("GET", f"/api/1/vehicles/{VIN}", 200, EU),
        ("POST", f"/api/1/vehicles/{VIN}/wake_up", 503, EU),
    ]


def test_a_request_without_an_answer_is_not_heard(mocked):
    mocked.get(f"{NA}/api/1/vehicles", body=requests.ConnectionError("refused"))
    observer = Recorder()
    with pytest.raises(TransportError):
        _client(observer).vehicles()
    assert observer.heard == []


def test_a_refusal_before_the_request_sends_nothing(mocked):
    observer = Recorder(refuse=True)
    with pytest.raises(AccountDisabled):
        _client(observer).vehicles()
    assert len(mocked.calls) == 0 and observer.heard == []


def test_exceeded_limit_is_account_disabled_and_told_to_the_observer(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles", json={"error": "account disabled: EXCEEDED_LIMIT"}, status=403
    )
    observer = Recorder()
    with pytest.raises(AccountDisabled) as caught:
        _client(observer).vehicles()
    assert not isinstance(caught.value, MissingScopes) and not caught.value.transient
    assert observer.disabled == [NA]


def test_a_plain_403_is_still_missing_scopes(mocked):
    mocked.get(f"{NA}/api/1/vehicles", json={"error": "Unauthorized missing scopes"}, status=403)
    observer = Recorder()
    with pytest.raises(MissingScopes):
        _client(observer).vehicles()
    assert observer.disabled == []
