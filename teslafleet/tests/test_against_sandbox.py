"""The Tesla client library against the sandbox emulator over real HTTP: no mocks.

One sandbox server per module (started in-process with `running_sandbox()`), reset to the
seed before every test. The sandbox's own fixtures live in `sandbox/tests/conftest.py`,
which pytest does not load for this directory, hence the local fixtures.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox import demo
from sandbox.testing import SandboxHandle
from teslafleet import jws, oauth
from teslafleet.errors import TransientError
from teslafleet.fleet import (
    FleetClient,
    MissingScopes,
    NotRegisteredInRegion,
    RateLimited,
    ServerError,
    VehicleUnavailable,
)
from teslafleet.http import make_session
from teslafleet.oauth import PermanentOAuthError, TokenSet
from teslafleet.regions import RegionTable, sandbox_table

ALICE = "alice@example.com"  # NA, five seeded cars
WEI = "wei@example.cn"  # CN, the seed workflow's user
# Alice's seeded cars and what makes each one interesting.
READY_VIN = "5YJ3E1EA7PF000001"  # online, current firmware
ASLEEP_VIN = "7SAYGDEE9RF000002"  # asleep, firmware fine, never paired
LEGACY_VIN = "5YJSA1E26KF000003"  # pre-2021 Model S: unsupported_hardware
OLD_FIRMWARE_VIN = "5YJXCBE20NF000004"  # 2024.8.9: unsupported_firmware
ALL_SCOPES = (
    "openid",
    "offline_access",
    "user_data",
    "vehicle_device_data",
    "vehicle_location",
    "vehicle_cmds",
)
REDIRECT = {
    "global": "http://127.0.0.1:8000/accounts/tesla/login/callback/",
    "cn": "http://127.0.0.1:8000/accounts/tesla_cn/login/callback/",
}
FIELDS = {"VehicleSpeed": {"interval_seconds": 10}, "Soc": {"interval_seconds": 60}}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tesla_sandbox: SandboxHandle) -> SandboxHandle:
    """The project's sandbox (one server per session, a fresh world per test)."""
    return tesla_sandbox


@pytest.fixture
def table(sandbox: SandboxHandle) -> RegionTable:
    return sandbox_table(sandbox.url)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = make_session()
    yield session
    session.close()


@dataclass
class App:
    """The developer's side: a key pair hosted on 127.0.0.1:<port> and a demo client."""

    private_key: ec.EllipticCurvePrivateKey
    domain: str

    @property
    def public_hex(self) -> str:
        return demo.public_hex(self.private_key)


@pytest.fixture
def app() -> Iterator[App]:
    private_key = ec.generate_private_key(ec.SECP256R1())
    with demo.hosted_public_key(demo.public_pem(private_key)) as domain:
        yield App(private_key=private_key, domain=domain)


# --- helpers ----------------------------------------------------------------------------------


def creds(sandbox: SandboxHandle, server: str) -> dict[str, str]:
    return sandbox.demo_clients[server]


def login(
    sandbox: SandboxHandle,
    table: RegionTable,
    http: requests.Session,
    *,
    user: str = ALICE,
    server: str = "global",
    region: str = "NA",
    scopes: tuple[str, ...] = ALL_SCOPES,
) -> TokenSet:
    """authorize (PKCE) -> consent like a browser -> exchange_code, all checks on the way."""
    auth = table.auth_server(server)
    client = creds(sandbox, server)
    verifier, challenge = oauth.pkce_pair()
    state = secrets.token_urlsafe(12)
    url = oauth.build_authorize_url(
        auth,
        client_id=client["client_id"],
        redirect_uri=REDIRECT[server],
        scopes=scopes,
        state=state,
        code_challenge=challenge,
    )
    with requests.Session() as browser:
        callback = demo.consent_as(browser, url, user)
    assert callback["state"] == state
    assert callback["issuer"] == auth.issuer
    return oauth.exchange_code(
        auth,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        code=callback["code"],
        redirect_uri=REDIRECT[server],
        audience=table.region(region).audience,
        code_verifier=verifier,
        session=http,
    )


def partner_token(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, region: str
) -> TokenSet:
    server = table.auth_server_for_region(region)
    client = creds(sandbox, server.key)
    return oauth.partner_token(
        server,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        audience=table.region(region).audience,
        session=http,
    )


def fleet(table: RegionTable, http: requests.Session, region: str, token: TokenSet) -> FleetClient:
    server = table.auth_server_for_region(region).key
    return FleetClient(
        table.region(region).base_url,
        token.access_token,
        allowed_base_urls=table.fleet_allowlist(server),
        session=http,
    )


def register(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App, *regions: str
) -> None:
    for region in regions:
        token = partner_token(sandbox, table, http, region)
        fleet(table, http, region, token).partner_register(app.domain)


def telemetry_claims(sandbox: SandboxHandle) -> dict[str, Any]:
    return {
        "hostname": "127.0.0.1",  # the root of the registered 127.0.0.1:<port> domain
        "port": 4443,
        "ca": demo.self_signed_ca_pem("127.0.0.1"),
        "exp": int(sandbox.control.now()) + 86400,
        "fields": FIELDS,
    }


# --- OAuth ------------------------------------------------------------------------------------


def test_authorize_and_exchange_yield_tokens_with_the_users_claims(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session
) -> None:
    tokens = login(sandbox, table, http, user=WEI, server="cn", region="CN")

    assert tokens.refresh_token and tokens.refresh_token.startswith("CN_")
    assert tokens.id_token
    assert tokens.claims.ou_code == "CN"
    assert tokens.claims.azp == creds(sandbox, "cn")["client_id"]
    assert tokens.claims.iss == table.auth_server("cn").issuer
    assert table.region("CN").audience in tokens.claims.aud
    assert set(ALL_SCOPES) <= set(tokens.claims.scp)
    world_user = next(u for u in sandbox.control.world()["users"] if u["email"] == WEI)
    assert tokens.claims.sub == world_user["id"]


def test_refresh_rotates_every_time_and_an_older_token_is_dead(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session
) -> None:
    auth = table.auth_server("global")
    client_id = creds(sandbox, "global")["client_id"]
    first = login(sandbox, table, http)
    assert first.refresh_token

    second = oauth.refresh(auth, client_id=client_id, refresh_token=first.refresh_token)
    assert second.refresh_token
    third = oauth.refresh(auth, client_id=client_id, refresh_token=second.refresh_token)

    tokens = [first.refresh_token, second.refresh_token, third.refresh_token]
    assert len(set(tokens)) == 3
    assert len({first.access_token, second.access_token, third.access_token}) == 3
    # `first` is now older than the most recently used token: outside the 24 h grace rule.
    with pytest.raises(PermanentOAuthError) as caught:
        oauth.refresh(auth, client_id=client_id, refresh_token=first.refresh_token)
    assert caught.value.error == "login_required"
    assert caught.value.status == 401


def test_password_reset_makes_refresh_permanently_fail(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session
) -> None:
    tokens = login(sandbox, table, http)
    assert tokens.refresh_token

    sandbox.control.reset_password(ALICE)

    with pytest.raises(PermanentOAuthError) as caught:
        oauth.refresh(
            table.auth_server("global"),
            client_id=creds(sandbox, "global")["client_id"],
            refresh_token=tokens.refresh_token,
        )
    assert caught.value.error == "login_required"
    assert not caught.value.transient


# --- partner account --------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["NA", "CN"])
def test_partner_register_and_public_key_round_trip(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App, region: str
) -> None:
    token = partner_token(sandbox, table, http, region)
    client = fleet(table, http, region, token)

    record = client.partner_register(app.domain)
    held = client.partner_public_key(app.domain)

    assert token.claims.sub == token.claims.azp  # a partner token's subject is the client
    assert record["domain"] == app.domain
    assert record["public_key"] == app.public_hex
    assert held.public_key == app.public_hex


# --- Fleet API errors -------------------------------------------------------------------------


def test_wrong_region_reroutes_via_421_and_updates_base_url(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA", "EU")
    tokens = login(sandbox, table, http)  # Alice lives in NA
    client = FleetClient(
        table.region("EU").base_url,
        tokens.access_token,
        allowed_base_urls=table.fleet_allowlist("global"),
        session=http,
    )

    answer = client.user_region()

    assert answer.region == "na"
    assert client.base_url == table.region("NA").base_url
    paths = [entry["path"] for entry in sandbox.control.requests("/api/1/users/region")]
    assert paths == ["/fleet/eu/api/1/users/region", "/fleet/na/api/1/users/region"]


def test_region_without_partner_registration_raises_not_registered(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")  # but not EU
    tokens = login(sandbox, table, http, user="erika@example.de", region="EU")

    with pytest.raises(NotRegisteredInRegion) as caught:
        fleet(table, http, "EU", tokens).vehicles()
    assert caught.value.status == 412
    assert not caught.value.transient


def test_missing_scope_raises_missing_scopes(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    tokens = login(sandbox, table, http, scopes=("openid", "offline_access", "user_data"))

    with pytest.raises(MissingScopes) as caught:
        fleet(table, http, "NA", tokens).vehicles()
    assert caught.value.status == 403


def test_vehicles_follows_every_page_beyond_one_hundred(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    added = sandbox.control.add_vehicles(ALICE, 203)
    tokens = login(sandbox, table, http)

    vehicles = fleet(table, http, "NA", tokens).vehicles()

    vins = [v["vin"] for v in vehicles]
    assert len(vins) == len(set(vins)) == 5 + 203
    assert set(added) <= set(vins)
    assert len(sandbox.control.requests("/api/1/vehicles")) == 3  # 100 + 100 + 8


@pytest.mark.parametrize("status", [408, 500, 503])
def test_asleep_car_raises_vehicle_unavailable(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App, status: int
) -> None:
    # Tesla reports a sleeping car as 408, 500 or 503 (§4.4); all mean the same.
    sandbox.control.settings(offline_status=status)
    register(sandbox, table, http, app, "NA")
    tokens = login(sandbox, table, http)

    with pytest.raises(VehicleUnavailable) as caught:
        fleet(table, http, "NA", tokens).vehicle_data(ASLEEP_VIN)
    assert caught.value.status == status
    assert caught.value.transient


def test_injected_429_raises_rate_limited_with_retry_after(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    tokens = login(sandbox, table, http)
    sandbox.control.fault(
        "/api/1/vehicles",
        method="GET",
        status=429,
        body={"response": None, "error": "rate limit exceeded", "error_description": ""},
        headers={"Retry-After": "17", "RateLimit-Remaining": "0"},
        count=1,
    )
    client = fleet(table, http, "NA", tokens)

    with pytest.raises(RateLimited) as caught:
        client.vehicles()
    assert caught.value.retry_after == 17
    assert caught.value.ratelimit_remaining == 0
    assert caught.value.transient
    assert len(client.vehicles()) == 5  # the fault was for one request only


def test_injected_503_raises_a_transient_error(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    tokens = login(sandbox, table, http)
    sandbox.control.fault(
        "/api/1/users/region",
        status=503,
        body={"response": None, "error": "upstream internal error", "error_description": ""},
        count=1,
    )

    with pytest.raises(TransientError) as caught:
        fleet(table, http, "NA", tokens).user_region()
    assert isinstance(caught.value, ServerError)
    assert caught.value.status == 503


# --- telemetry config via JWS -----------------------------------------------------------------


def test_jws_push_reports_a_skip_reason_per_vin(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    sandbox.control.pair(READY_VIN, app.domain)
    tokens = login(sandbox, table, http)
    token = jws.sign(app.private_key, telemetry_claims(sandbox))
    vins = [READY_VIN, ASLEEP_VIN, LEGACY_VIN, OLD_FIRMWARE_VIN]

    answer = fleet(table, http, "NA", tokens).fleet_telemetry_config_jws(vins, token)

    assert answer["updated_vehicles"] == 1
    assert answer["skipped_vehicles"] == {
        "missing_key": [ASLEEP_VIN],
        "unsupported_hardware": [LEGACY_VIN],
        "unsupported_firmware": [OLD_FIRMWARE_VIN],
        "max_configs": [],
    }


def test_jws_push_skips_a_car_whose_config_slots_are_full(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    sandbox.control.settings(max_configs=0)
    register(sandbox, table, http, app, "NA")
    sandbox.control.pair(READY_VIN, app.domain)
    tokens = login(sandbox, table, http)
    token = jws.sign(app.private_key, telemetry_claims(sandbox))

    answer = fleet(table, http, "NA", tokens).fleet_telemetry_config_jws([READY_VIN], token)

    assert answer["updated_vehicles"] == 0
    assert answer["skipped_vehicles"]["max_configs"] == [READY_VIN]


def test_jws_config_is_pending_until_the_car_connects_then_synced(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    sandbox.control.pair(READY_VIN, app.domain)
    tokens = login(sandbox, table, http)
    claims = telemetry_claims(sandbox)
    client = fleet(table, http, "NA", tokens)
    client.fleet_telemetry_config_jws([READY_VIN], jws.sign(app.private_key, claims))

    pending = client.fleet_telemetry_config(READY_VIN)
    # The car connects on its own schedule: here, once the sandbox clock passes the delay.
    sandbox.control.advance_clock(sandbox.control.settings()["telemetry_sync_delay"] + 1)
    synced = client.fleet_telemetry_config(READY_VIN)

    assert pending.synced is False
    assert pending.key_paired is True
    assert synced.synced is True
    assert synced.config == {
        **claims,
        "aud": jws.TELEMETRY_AUDIENCE,
        "iss": jws.issuer_for(app.private_key.public_key()),
    }
    assert client.fleet_telemetry_errors(READY_VIN) == []


def test_config_signed_with_another_key_ends_null_with_unknown_issuer(
    sandbox: SandboxHandle, table: RegionTable, http: requests.Session, app: App
) -> None:
    register(sandbox, table, http, app, "NA")
    sandbox.control.pair(READY_VIN, app.domain)
    tokens = login(sandbox, table, http)
    stranger = ec.generate_private_key(ec.SECP256R1())
    client = fleet(table, http, "NA", tokens)

    # Fleet API accepts it; only the car notices the unknown issuer (§5.4).
    answer = client.fleet_telemetry_config_jws(
        [READY_VIN], jws.sign(stranger, telemetry_claims(sandbox))
    )
    sandbox.control.telemetry_pickup(READY_VIN)
    config = client.fleet_telemetry_config(READY_VIN)
    errors = client.fleet_telemetry_errors(READY_VIN)

    assert answer["updated_vehicles"] == 1
    assert config.synced is True
    assert config.config is None
    assert [e.vin for e in errors] == [READY_VIN]
    assert "unknown issuer" in errors[0].error
    assert errors[0].name == creds(sandbox, "global")["client_id"]


# --- the demo ---------------------------------------------------------------------------------


def test_demo_runs_the_seed_workflow_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--embedded"]) == 0

    out = capsys.readouterr().out
    assert "seed workflow completed" in out
    assert "synced=True, config matches ours" in out
    assert demo.VIN in out
    assert "FAILED" not in out
    # The seed workflow's own scope list, as written there, and every one of them granted.
    assert demo.SCOPES == (
        "openid",
        "user_data",
        "vehicle_device_data",
        "vehicle_cmds",
        "vehicle_charging_cmds",
        "offline_access",
        "vehicle_location",
        "vehicle_specs",
    )
    assert "vehicle_specs" in out


def test_demo_never_prints_a_whole_token_or_the_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issued: list[str] = []
    secrets_seen: list[str] = []

    def spy(real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> TokenSet:
            tokens = real(*args, **kwargs)
            issued.extend(t for t in (tokens.access_token, tokens.refresh_token) if t)
            return tokens

        return wrapper

    real_register = demo.Control.register_client

    def register_spy(self: Any, **kwargs: Any) -> dict[str, str]:
        created = real_register(self, **kwargs)
        secrets_seen.append(created["client_secret"])
        return created

    # Wrappers, not replacements: the tokens seen are exactly the ones the demo printed about.
    for name in ("partner_token", "exchange_code", "refresh"):
        monkeypatch.setattr(oauth, name, spy(getattr(oauth, name)))
    monkeypatch.setattr(demo.Control, "register_client", register_spy)

    assert demo.main(["--embedded"]) == 0

    out = capsys.readouterr().out
    # partner token, then the exchange and two refreshes (access + refresh token each)
    assert len(issued) == 7
    for token in issued:
        assert token[:8] in out
        # The tail is what makes a token unique: a JWT's head is the same for every token.
        assert token[-16:] not in out
        assert token[8:] not in out
    assert len(secrets_seen) == 1
    assert secrets_seen[0] not in out
    assert secrets_seen[0][-12:] not in out


def test_demo_stops_at_the_first_failing_step_with_a_clear_message(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.control.fault(
        "/api/1/vehicles/fleet_status",
        status=503,
        body={"response": None, "error": "upstream internal error", "error_description": ""},
    )

    assert demo.main(["--sandbox-url", sandbox.url]) == 1

    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert last.startswith("17. fleet_status: FAILED: ServerError")
    assert "503 upstream internal error" in last
    assert "demo failed at step 17 (fleet_status)" in captured.err


def test_demo_without_a_sandbox_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert demo.main(["--sandbox-url", f"http://127.0.0.1:{port}"]) == 1

    out = capsys.readouterr().out
    assert out.startswith(" 1. sandbox: FAILED: DemoError: no sandbox answers")
    assert "--embedded" in out
