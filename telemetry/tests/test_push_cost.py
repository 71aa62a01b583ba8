"""A push's cost per linked account does not grow with the fleet: the config is signed once
per run, and a link task runs the same queries whether its account has one car or five and
whatever the number of accounts in the run (issue 15; the CPU figures are bench_telemetry's).
Against the sandbox over HTTP, on the test database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import TeslaLink
from telemetry import services
from telemetry.models import TelemetryRun
from telemetry.services import signing
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import ALL, ASLEEP, GOOD, LEGACY, OLD_FW, SHARED, statuses
from teslafleet import jws
from teslafleet.fleet import FleetClient
from vehicles.models import VehicleAccess

pytestmark = pytest.mark.django_db


@pytest.fixture
def signatures(monkeypatch) -> list[int]:
    """Counts every JWS the portal signs (the real signer still runs)."""
    calls: list[int] = []
    real = jws.sign

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jws, "sign", counting)
    return calls


@pytest.fixture
def sent_tokens(monkeypatch) -> list[str]:
    """The JWS of every fleet_telemetry_config_jws call (the real call still goes out)."""
    tokens: list[str] = []
    real = FleetClient.fleet_telemetry_config_jws

    def recording(self, vins, token):
        tokens.append(token)
        return real(self, vins, token)

    monkeypatch.setattr(FleetClient, "fleet_telemetry_config_jws", recording)
    return tokens


def _push(vins: list[str], manager, name: str) -> TelemetryRun:
    config = make_config(name=name, hostname="127.0.0.1", fields={"Soc": 60})
    services.telemetry_config_assign(config=config, vins=vins, user=manager)
    return services.telemetry_push_start(config=config, user=manager)


def _link_queries(run: TelemetryRun) -> list[int]:
    """Dispatch the run, then each link task in turn: the queries each task ran."""
    counts = []
    for link_id in services.telemetry_push_dispatch(run_id=run.pk):
        with CaptureQueriesContext(connection) as ctx:
            services.telemetry_push_link(run_id=run.pk, link_id=link_id)
        counts.append(len(ctx.captured_queries))
    return counts


def _one_link_per_car(alice: TeslaLink) -> None:
    """Alice's five cars, each listed by its own linked account (copies of alice's link: the
    sandbox accepts its token for every car she owns)."""
    accesses = list(VehicleAccess.objects.filter(link=alice).order_by("vehicle__vin"))
    for n, access in enumerate(accesses[1:], start=1):
        link = TeslaLink.objects.get(pk=alice.pk)
        link.pk, link.subject = None, f"{alice.subject}-copy-{n}"
        link.save()
        VehicleAccess.objects.filter(pk=access.pk).update(link=link)


def test_a_link_task_runs_the_same_queries_for_one_car_and_for_five(
    alice, manager, tesla_sandbox, portal_key, signatures
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    tesla_sandbox.control.pair(SHARED, portal_key.domain)
    one = _push([GOOD], manager, "one car")
    five = _push(ALL, manager, "five cars")

    one_queries, five_queries = _link_queries(one), _link_queries(five)

    assert (len(one_queries), len(five_queries)) == (1, 1)
    assert one_queries == five_queries
    # Five cars: two updated, three skipped for three different reasons, all recorded.
    assert statuses(five.config) == {
        GOOD: ("updated", ""),
        SHARED: ("updated", ""),
        ASLEEP: ("skipped", "missing_key"),
        LEGACY: ("skipped", "unsupported_hardware"),
        OLD_FW: ("skipped", "unsupported_firmware"),
    }
    assert len(signatures) == 2  # one per run


def test_a_run_over_five_links_signs_once_and_every_link_sends_that_token(
    alice, manager, tesla_sandbox, portal_key, signatures, sent_tokens
):
    _one_link_per_car(alice)
    tesla_sandbox.control.clear_requests()
    run = _push(ALL, manager, "five links")

    queries = _link_queries(run)

    run.refresh_from_db()
    assert (run.status, run.links_total, run.links_done) == ("done", 5, 5)
    assert len(signatures) == 1
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_config_jws")
    assert len(calls) == 5
    assert [c["status"] for c in calls] == [200] * 5
    assert sent_tokens == [run.signed_token] * 5
    claims = jws.verify(run.signed_token, portal_key.private_key.public_key())
    assert {k: v for k, v in claims.items() if k not in ("aud", "iss")} == run.version.payload
    # The last link closes the run (its audit entry): the others all cost the same.
    assert len(set(queries[:-1])) == 1


def test_link_tasks_signing_together_keep_the_first_stored_token(alice, manager, portal_key):
    """Two tasks that both found no token: the second keeps and returns the first's."""
    run = _push([GOOD], manager, "race")
    first, second = (
        TelemetryRun.objects.select_related("version").get(pk=run.pk) for _ in range(2)
    )

    token = signing.run_token(first)

    assert signing.run_token(second) == token  # second still held "": it signed, lost, re-read
    assert TelemetryRun.objects.get(pk=run.pk).signed_token == token


def _rotate_key():
    """A new partner key, imported as an operator would: returns its private half."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from partners import services as partner_services

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    partner_services.partner_key_import(pem=pem, force=True)
    return key


def test_a_run_keeps_its_key_through_a_rotation_and_the_next_run_signs_with_the_new_one(
    alice, manager, tesla_sandbox, portal_key, sent_tokens
):
    """The token a run sends is the one it was signed with; the rotated key reaches cars by
    a new run (a push or the re-sign sweep, which starts one through telemetry_push_start)."""
    old = _push([GOOD], manager, "rotation")
    links = services.telemetry_push_dispatch(run_id=old.pk)
    new_key = _rotate_key()

    for link_id in links:
        services.telemetry_push_link(run_id=old.pk, link_id=link_id)
    old.refresh_from_db()
    new = services.telemetry_push_start(config=old.config, user=manager)
    services.telemetry_push_dispatch(run_id=new.pk)
    new.refresh_from_db()

    assert sent_tokens == [old.signed_token]
    jws.verify(old.signed_token, portal_key.private_key.public_key())
    jws.verify(new.signed_token, new_key.public_key())
    with pytest.raises(jws.InvalidToken):
        jws.verify(new.signed_token, portal_key.private_key.public_key())
