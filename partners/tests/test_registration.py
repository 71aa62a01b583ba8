"""Registering the portal with Tesla in every region, against the sandbox over real HTTP."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command

from partners import services
from partners.advice import advice_for
from partners.models import PartnerAuditEntry, PartnerRegistration

pytestmark = pytest.mark.django_db(transaction=True)

Problem = PartnerRegistration.Problem
TESLA_412 = (
    "Account must be registered in the current region, please see "
    "https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints#register"
)


def _partners_at_sandbox(tesla_sandbox, client_id: str) -> dict[str, bool]:
    partners = tesla_sandbox.control.world()["partners"]
    return {region: client_id in ids for region, ids in partners.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_registers_in_na_eu_and_cn_and_tesla_holds_our_key(portal, tesla_sandbox, fresh_apps):
    key = services.partner_key_generate()
    outcomes = services.partner_register_all()
    assert [(o.region, o.registration.state) for o in outcomes] == [
        ("NA", "registered"),
        ("EU", "registered"),
        ("CN", "registered"),
    ]
    for row in PartnerRegistration.objects.all():
        assert row.tesla_public_key_hex == key.public_key_hex
        assert row.registered_at and row.checked_at and row.problem == ""
        assert row.domain == portal.url.removeprefix("http://")
    global_id, cn_id = fresh_apps["global"]["client_id"], fresh_apps["cn"]["client_id"]
    assert _partners_at_sandbox(tesla_sandbox, global_id) == {"NA": True, "EU": True, "CN": False}
    assert _partners_at_sandbox(tesla_sandbox, cn_id) == {"NA": False, "EU": False, "CN": True}
    # One partner token per region, each from the server that serves it.
    tokens = tesla_sandbox.control.requests(path="/token")
    assert sorted(call["client_id"] for call in tokens) == sorted([global_id, global_id, cn_id])


def test_key_rotated_without_registering_again_is_detected_as_mismatch(portal, tesla_sandbox):
    services.partner_key_generate()
    assert services.partner_register(region="EU").state == "registered"
    new_key = services.partner_key_generate(force=True)

    row = PartnerRegistration.objects.get(region="EU")
    assert (row.state, row.problem) == ("key_mismatch", Problem.KEY_CHANGED)
    # What Tesla itself says, read back without registering:
    row = services.partner_registration_check(region="EU")
    assert (row.state, row.problem) == ("key_mismatch", Problem.KEY_DIFFERS)
    assert row.tesla_public_key_hex != new_key.public_key_hex
    assert row.tesla_message.startswith("public_key fingerprint ")
    assert "different key" in advice_for(row)

    assert services.partner_register(region="EU").state == "registered"


def test_checking_a_region_never_registered_shows_not_registered(portal, tesla_sandbox):
    services.partner_key_generate()
    row = services.partner_registration_check(region="NA")
    assert row.state == "not_registered"
    assert "412" in row.tesla_message


def test_sandbox_412_becomes_a_clear_error_with_teslas_message(portal, tesla_sandbox):
    services.partner_key_generate()
    tesla_sandbox.control.fault(
        "/partner_accounts",
        method="POST",
        status=412,
        body={"response": None, "error": TESLA_412, "error_description": ""},
    )
    row = services.partner_register(region="NA")
    assert (row.state, row.problem) == ("error", Problem.NOT_REGISTERED_IN_REGION)
    assert TESLA_412 in row.tesla_message and "412" in row.tesla_message
    assert "about an hour" in advice_for(row) and "TESLA_CLIENT_ID" in advice_for(row)
    assert row.registered_at is None


def test_a_key_url_tesla_cannot_fetch_is_reported_with_teslas_422(portal, settings, tesla_sandbox):
    services.partner_key_generate()
    settings.TESLA_PARTNER_DOMAIN = f"127.0.0.1:{_free_port()}"
    row = services.partner_register(region="NA")
    assert (row.state, row.problem) == ("error", Problem.INVALID_RESOURCE)
    assert "422 invalid_resource" in row.tesla_message
    assert "could not fetch the public key" in row.tesla_message
    assert "allowed origin" in advice_for(row)


def test_a_domain_outside_the_allowed_origins_is_reported_with_teslas_422(
    portal, settings, tesla_sandbox
):
    services.partner_key_generate()
    settings.TESLA_PARTNER_DOMAIN = "portal.example.org"
    row = services.partner_register(region="EU")
    assert (row.state, row.problem) == ("error", Problem.INVALID_RESOURCE)
    assert "same root as one of the application's allowed origins" in row.tesla_message


def test_sandbox_5xx_is_an_error_that_keeps_the_earlier_registration(portal, tesla_sandbox):
    key = services.partner_key_generate()
    first = services.partner_register(region="NA")
    tesla_sandbox.control.fault(
        "/partner_accounts", method="POST", status=503, body={"error": "upstream internal error"}
    )
    row = services.partner_register(region="NA")
    assert (row.state, row.problem) == ("error", Problem.TESLA_UNAVAILABLE)
    assert "503" in row.tesla_message and "upstream internal error" in row.tesla_message
    assert "Try again in a few minutes" in advice_for(row)
    # Nothing half-saved: what Tesla held and when we registered stay as they were.
    assert row.registered_at == first.registered_at
    assert row.tesla_public_key_hex == key.public_key_hex


def test_wrong_client_secret_is_reported_as_refused_credentials(portal, settings, tesla_sandbox):
    services.partner_key_generate()
    settings.TESLA_CLIENT_SECRET = "sbx_" + "0" * 48
    row = services.partner_register(region="NA")
    assert (row.state, row.problem) == ("error", Problem.CREDENTIALS_REFUSED)
    assert "unauthorized_client" in row.tesla_message
    assert "TESLA_CLIENT_SECRET" in advice_for(row)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("https://portal.example.com", "contains a scheme"),
        ("portal.example.com/tesla", "contains a path"),
        ("Portal.Example.com", "must be lower case"),
        ("portal.example.com:8443", "contains a port"),
        ("portal..example.com", "not a valid host name"),
    ],
)
def test_a_bad_domain_is_refused_before_any_call_and_nothing_is_saved(
    fresh_apps, settings, tesla_sandbox, domain, message
):
    services.partner_key_generate()
    settings.TESLA_PARTNER_DOMAIN = domain
    with pytest.raises(services.PartnerSetupError, match=message):
        services.partner_register(region="NA")
    assert tesla_sandbox.control.requests() == []
    assert not PartnerRegistration.objects.exists()


def test_a_loopback_domain_with_a_port_is_only_allowed_in_the_sandbox(fresh_apps, settings):
    services.partner_key_generate()
    settings.TESLA_PARTNER_DOMAIN = "127.0.0.1:8000"
    settings.TESLA_ENV = "production"
    with pytest.raises(services.PartnerSetupError, match="contains a port"):
        services.partner_register(region="NA")


def test_registering_without_credentials_is_refused_without_any_call(
    portal, settings, tesla_sandbox
):
    services.partner_key_generate()
    settings.TESLA_CN_CLIENT_ID = ""
    with pytest.raises(services.PartnerSetupError, match="TESLA_CN_CLIENT_ID"):
        services.partner_register(region="CN")
    assert tesla_sandbox.control.requests() == []
    # The other regions still register; CN is reported as refused.
    outcomes = {o.region: o for o in services.partner_register_all()}
    assert outcomes["NA"].registration.state == outcomes["EU"].registration.state == "registered"
    assert (
        outcomes["CN"].registration is None and "TESLA_CN_CLIENT_SECRET" in outcomes["CN"].refused
    )
    assert not PartnerRegistration.objects.filter(region="CN").exists()


def test_registering_without_a_key_is_refused_without_any_call(fresh_apps, tesla_sandbox):
    with pytest.raises(services.PartnerSetupError, match="no application key"):
        services.partner_register(region="NA")
    assert tesla_sandbox.control.requests() == []


def test_register_command_prints_each_region(portal, tesla_sandbox, capsys):
    call_command("tesla_keygen")
    call_command("tesla_register", "--region", "eu")
    out = capsys.readouterr().out
    assert "EU: registered" in out and "NA" not in out.split("Domain:")[1]
    call_command("tesla_register")
    out = capsys.readouterr().out
    assert all(f"{region}: registered" in out for region in ("NA", "EU", "CN"))


def test_register_command_fails_with_teslas_message_and_the_fix(portal, tesla_sandbox, capsys):
    call_command("tesla_keygen")
    tesla_sandbox.control.fault(
        "/partner_accounts", method="POST", status=412, body={"error": TESLA_412}
    )
    with pytest.raises(CommandError, match="1 region"):
        call_command("tesla_register", "--region", "NA")
    out = capsys.readouterr().out
    assert "NA: error" in out and TESLA_412 in out and "To do:" in out


def test_token_endpoint_outage_is_reported_as_tesla_unavailable(portal, tesla_sandbox):
    services.partner_key_generate()
    tesla_sandbox.control.fault("token", status=503, body={"error": "server_error"})
    row = services.partner_register(region="CN")
    assert (row.state, row.problem) == ("error", Problem.TESLA_UNAVAILABLE)
    assert "503" in row.tesla_message
    assert not tesla_sandbox.control.requests(path="/partner_accounts")


def test_a_partner_token_tesla_keeps_refusing_is_reported_after_one_fresh_try(
    portal, tesla_sandbox
):
    services.partner_key_generate()
    tesla_sandbox.control.fault(
        "/partner_accounts", method="POST", status=401, body={"error": "invalid bearer token"}
    )
    row = services.partner_register(region="NA")
    assert (row.state, row.problem) == ("error", Problem.TOKEN_REFUSED)
    assert "401 invalid bearer token" in row.tesla_message
    # The cached token was dropped and exactly one fresh one fetched.
    assert len(tesla_sandbox.control.requests(path="/token")) == 2
    assert len(tesla_sandbox.control.requests(path="/partner_accounts")) == 2


# Issue #19 item 12: Tesla China reportedly refuses the public_key read-back (403 missing
# scopes) right after accepting the registration.
CN_READBACK = "/fleet/cn/api/1/partner_accounts/public_key"
MISSING_SCOPES = {"response": None, "error": "Unauthorized missing scopes", "error_description": ""}


def test_a_refused_read_back_after_registering_is_registered_with_a_warning(
    portal, tesla_sandbox, fresh_apps
):
    key = services.partner_key_generate()
    tesla_sandbox.control.fault(CN_READBACK, method="GET", status=403, body=MISSING_SCOPES)
    row = services.partner_register(region="CN")
    assert (row.state, row.problem) == ("registered", Problem.READBACK_REFUSED)
    assert row.registered_at is not None and row.tesla_public_key_hex == ""
    assert "403 Unauthorized missing scopes" in row.tesla_message
    advice = advice_for(row)
    assert "Registration in CN succeeded" in advice and "partner application" not in advice
    # Tesla did register it: the sandbox holds our key for the CN application.
    assert _partners_at_sandbox(tesla_sandbox, fresh_apps["cn"]["client_id"])["CN"] is True
    entry = PartnerAuditEntry.objects.filter(region="CN").latest("pk")
    assert (entry.outcome, entry.fingerprint) == ("succeeded", key.fingerprint)
    # A later check meets the same refusal and keeps the registration.
    checked = services.partner_registration_check(region="CN")
    assert (checked.state, checked.problem) == ("registered", Problem.READBACK_REFUSED)
    assert checked.registered_at == row.registered_at


def test_register_command_warns_and_exits_0_when_the_read_back_is_refused(
    portal, tesla_sandbox, capsys
):
    call_command("tesla_keygen")
    tesla_sandbox.control.fault(CN_READBACK, method="GET", status=403, body=MISSING_SCOPES)
    call_command("tesla_register")  # raises CommandError (exit 1) on a failed region
    out = capsys.readouterr().out
    assert "NA: registered" in out and "EU: registered" in out
    assert "CN: registered, key read-back refused" in out
    assert "Registration in CN succeeded" in out
    assert "partner application" not in out


def test_a_refused_read_back_without_a_registration_stays_a_refused_token(portal, tesla_sandbox):
    services.partner_key_generate()
    tesla_sandbox.control.fault(CN_READBACK, method="GET", status=403, body=MISSING_SCOPES)
    row = services.partner_registration_check(region="CN")
    assert (row.state, row.problem) == ("error", Problem.TOKEN_REFUSED)
