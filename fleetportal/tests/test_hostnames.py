"""The host name rules every app uses: the partner domain, the telemetry server, same root."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from fleetportal import hostnames


@pytest.fixture
def production(settings):
    settings.TESLA_ENV = "production"


@pytest.fixture
def sandbox(settings):
    settings.TESLA_ENV = "sandbox"


@pytest.mark.parametrize("domain", ["portal.example.com", "example.com", "a-b.example.co"])
def test_a_bare_lower_case_host_is_a_good_partner_domain(production, domain):
    assert hostnames.domain_problem(domain) is None


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("", "No partner domain"),
        ("https://portal.example.com", "scheme"),
        ("portal.example.com/x", "path"),
        ("portal.example.com?x", "path"),
        ("user@portal.example.com", "path"),
        ("portal.example.com\\x", "path"),
        ("Portal.example.com", "lower case"),
        ("portal.example.com:443", "port"),
        ("localhost:8000", "port"),
        ("-bad-.example.com", "not a valid host name"),
    ],
)
def test_a_partner_domain_that_is_not_a_bare_host_says_why(production, domain, words):
    assert words in hostnames.domain_problem(domain)


@pytest.mark.parametrize("domain", ["localhost:8000", "127.0.0.1:8000", "localhost"])
def test_the_sandbox_takes_a_loopback_partner_domain_with_a_port(sandbox, domain):
    assert hostnames.domain_problem(domain) is None


def test_the_sandbox_still_refuses_a_port_on_a_public_partner_domain(sandbox):
    assert "port" in hostnames.domain_problem("portal.example.com:8443")


@pytest.mark.parametrize("host", ["telemetry.example.com", "t-1.fleet.example.co.uk"])
def test_a_public_dns_name_is_a_good_telemetry_server(production, host):
    assert hostnames.validate_server_hostname(f"  {host} ") == host


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("", "required"),
        ("https://telemetry.example.com", "scheme"),
        ("telemetry.example.com/path", "path"),
        ("telemetry.example.com\\path", "path"),
        ("Telemetry.example.com", "case"),
        ("telemetry.example.com:4443", "port"),
        ("203.0.113.7", "ip"),
        ("127.0.0.1", "ip"),
        ("[::1]", "ip"),
        ("localhost", "localhost"),
        ("fleet.localhost", "localhost"),
        ("telemetry", "invalid"),
        ("bad_host.example.com", "invalid"),
    ],
)
def test_a_telemetry_server_a_car_cannot_reach_is_refused_with_its_reason(production, host, code):
    with pytest.raises(ValidationError) as caught:
        hostnames.validate_server_hostname(host)

    assert caught.value.code == code


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_the_sandbox_takes_a_loopback_telemetry_server(sandbox, host):
    assert hostnames.validate_server_hostname(host) == host


@pytest.mark.parametrize(
    ("host", "root"),
    [
        ("a.b.example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("example.com", "example.com"),
        ("127.0.0.1", "127.0.0.1"),
        # Issue #19 item 14: a public suffix of two labels or more is not a root.
        ("portal.foo.com.cn", "foo.com.cn"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("foo.github.io", "foo.github.io"),  # the list's private section counts too
        ("com.cn", "com.cn"),  # a public suffix alone is its own root
        ("localhost", "localhost"),
    ],
)
def test_the_root_is_the_registrable_domain_or_the_ip_address(host, root):
    assert hostnames.root_host(host) == root


def test_two_owners_under_one_public_suffix_do_not_share_a_root(production):
    problem = hostnames.root_problem("telemetry.bar.com.cn", domain="portal.foo.com.cn")

    assert problem.startswith("telemetry.bar.com.cn is not allowed.")
    assert "foo.com.cn or a name ending in .foo.com.cn" in problem


@pytest.mark.parametrize(
    "origin",
    ["https://www.example.com", "https://WWW.example.com:8443/app", "www.example.com:8443/app"],
)
def test_an_allowed_origin_is_read_as_its_host(origin):
    assert hostnames.origin_host(origin) == "www.example.com"


def test_a_telemetry_server_under_the_partner_domain_root_is_accepted(production):
    assert hostnames.root_problem("telemetry.example.com", domain="portal.example.com") is None


def test_a_telemetry_server_under_another_root_says_which_root(production):
    problem = hostnames.root_problem("telemetry.other.org", domain="portal.example.com")

    assert "example.com" in problem and "portal.example.com" in problem


@pytest.mark.parametrize("domain", ["", "https://portal.example.com"])
def test_a_missing_or_bad_partner_domain_leaves_the_root_check_to_onboarding(production, domain):
    assert hostnames.root_problem("telemetry.other.org", domain=domain) is None


# Issue #16 item 8: each refusal says what IS allowed, never a contradiction such as
# "telemetry.127.0.0.1 must be under 127.0.0.1".


@pytest.mark.parametrize("domain", ["127.0.0.1", "127.0.0.1:8000"])
def test_a_name_under_an_ip_partner_domain_is_told_to_use_that_same_address(sandbox, domain):
    problem = hostnames.root_problem("telemetry.127.0.0.1", domain=domain)

    assert "must be under" not in problem
    assert "the telemetry host must be that same address, 127.0.0.1" in problem
    assert "cannot be placed under an IP address" in problem


def test_the_ip_partner_domain_itself_is_accepted_in_the_sandbox(sandbox):
    host = hostnames.validate_server_hostname("127.0.0.1")
    assert hostnames.root_problem(host, domain="127.0.0.1:8000") is None


def test_a_single_label_partner_domain_allows_only_itself(sandbox):
    problem = hostnames.root_problem("telemetry.example.com", domain="localhost:8000")

    assert "must be localhost itself" in problem


def test_another_root_is_refused_with_the_allowed_names_and_an_example(production):
    problem = hostnames.root_problem("telemetry.other.org", domain="portal.example.com")

    assert problem.startswith("telemetry.other.org is not allowed.")
    assert "example.com or a name ending in .example.com" in problem
    assert "telemetry.example.com" in problem


def test_an_invalid_dns_name_is_told_what_a_valid_one_looks_like(production):
    with pytest.raises(ValidationError) as caught:
        hostnames.validate_server_hostname("bad_host.example.com")

    assert "letters, digits and hyphens, e.g. telemetry.example.com" in caught.value.messages[0]


def test_allowed_hosts_is_silent_without_a_usable_partner_domain(production):
    assert hostnames.allowed_hosts("") is None
    assert hostnames.allowed_hosts("https://x.example.com") is None
