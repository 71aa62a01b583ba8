"""Pairing links per region and their QR codes, as the vehicles pages will embed them."""

from __future__ import annotations

import pytest
import requests
from django.template import Context, Template

from partners import pairing, services

pytestmark = pytest.mark.django_db

VIN = "5YJ3E1EA7PF000001"


@pytest.fixture
def production(settings):
    settings.TESLA_ENV = "production"
    settings.TESLA_PARTNER_DOMAIN = "portal.example.com"


@pytest.mark.parametrize(
    ("region", "link"),
    [
        ("NA", f"https://tesla.com/_ak/portal.example.com?vin={VIN}"),
        ("EU", f"https://tesla.com/_ak/portal.example.com?vin={VIN}"),
        ("CN", f"https://www.tesla.cn/_ak/portal.example.com?vin={VIN}"),
    ],
)
def test_pairing_link_follows_the_region_table(production, region, link):
    assert pairing.pairing_link(region=region, vin=VIN) == link


def test_pairing_link_defaults_to_the_public_url_host_and_points_at_the_sandbox(settings):
    settings.TESLA_ENV = "sandbox"
    settings.TESLA_SANDBOX_URL = "http://127.0.0.1:8001"
    settings.TESLA_PARTNER_DOMAIN = ""
    settings.PORTAL_PUBLIC_URL = "http://127.0.0.1:8000"
    assert (
        pairing.pairing_link(region="NA", vin=VIN)
        # The region table percent-encodes the port's colon; the sandbox decodes it back.
        == f"http://127.0.0.1:8001/_ak/127.0.0.1%3A8000?vin={VIN}"
    )


def test_pairing_link_refuses_something_that_is_not_a_vin(production):
    with pytest.raises(ValueError, match="not a VIN"):
        pairing.pairing_link(region="NA", vin="5YJ3E1EA7PF00000&x=1")


def test_template_tags_render_the_link_and_an_inline_svg(production):
    html = Template(
        "{% load pairing %}{% pairing_link region vin as link %}"
        '<a href="{{ link }}">{{ link }}</a>{% pairing_qr link scale=2 %}'
    ).render(Context({"region": "EU", "vin": VIN}))
    assert f'<a href="https://tesla.com/_ak/portal.example.com?vin={VIN}">' in html
    assert html.count("<svg") == 1 and 'class="pairing-qr"' in html and "<?xml" not in html


def test_qr_code_grows_with_scale():
    small = pairing.qr_svg("https://tesla.com/_ak/portal.example.com", scale=2)
    large = pairing.qr_svg("https://tesla.com/_ak/portal.example.com", scale=4)
    width = lambda svg: int(svg.split('width="')[1].split('"')[0])  # noqa: E731
    assert width(large) == 2 * width(small)


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_pairing_page_accepts_our_link_once_registered(portal, tesla_sandbox):
    services.partner_key_generate()
    link = pairing.pairing_link(region="NA", vin=VIN)
    assert "application has not registered" in requests.get(link, timeout=10).text
    assert services.partner_register(region="NA").state == "registered"
    assert requests.get(link, timeout=10).status_code == 200
    added = requests.post(link, timeout=10)
    assert added.status_code == 200 and f"added to {VIN}" in added.text


def test_template_tags_render_nothing_for_a_vehicle_without_a_valid_vin(production):
    html = Template(
        "{% load pairing %}{% pairing_link 'NA' vin as link %}[{{ link }}]{% pairing_qr link %}"
    ).render(Context({"vin": "not-a-vin"}))
    assert html == "[]"
