"""The whole portal as its users meet it: live server, sandbox, a real worker, Chromium."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

E2E_PASSWORD = "an-e2e-passphrase-2026"


@pytest.fixture
def portal(live_server, configure_tesla, settings, celery_worker_thread, tesla_sandbox):
    """The portal at live_server.url, configured against the sandbox like `make run` is: its
    own key generated, registered in every sandbox region, a worker consuming its tasks."""
    from partners import services as partner_services

    configure_tesla(live_server.url)
    settings.PORTAL_PUBLIC_URL = live_server.url
    settings.TESLA_PARTNER_DOMAIN = urlsplit(live_server.url).netloc
    partner_services.partner_key_generate()
    outcomes = partner_services.partner_register_all()
    assert all(o.registration and o.registration.state == "registered" for o in outcomes), [
        (o.region, o.refused or o.registration.tesla_message) for o in outcomes
    ]
    return live_server


def sign_up(page, base_url: str, email: str) -> None:
    """Sign up in the browser, open the confirmation link from the email, land signed in."""
    from django.core import mail

    page.goto(f"{base_url}/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", E2E_PASSWORD)
    page.fill("input[name=password2]", E2E_PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", mail.outbox[-1].body)
    page.goto(f"{base_url}{link.group(1)}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def sign_in(page, base_url: str, email: str, password: str = E2E_PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def consent_at_tesla(page, tesla_user: str) -> None:
    """On the sandbox's Tesla sign-in page: pick the demo user, allow, return to the portal."""
    page.wait_for_url(re.compile(r"/oauth2/v3/authorize"))
    page.check(f"input[name=user][value='{tesla_user}']")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def eventually(page, url: str, predicate, *, timeout: float = 30) -> None:
    """Reload `url` until predicate(page) holds (work done by the worker shows up)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if predicate(page):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: condition not met within {timeout} s")
        time.sleep(0.5)


def link_alice_with_a_paired_car(page, base_url: str, owner, password: str, vin: str, sandbox):
    """The owner signs in and links alice (Global); her car `vin` carries the portal's key, and
    after "Sync now" the worker shows it paired."""
    from django.conf import settings

    sign_in(page, base_url, owner.email, password)
    page.get_by_role("button", name="Link Tesla account (Global)").click()
    consent_at_tesla(page, "alice@example.com")
    sandbox.control.pair(vin, settings.TESLA_PARTNER_DOMAIN)
    sync_until_paired(page, base_url, vin)


def sync_until_paired(page, base_url: str, vin: str) -> None:
    """Press "Sync now" on the vehicle list; wait until the car's page says its key is paired."""
    page.goto(f"{base_url}/vehicles/")
    page.get_by_role("button", name="Sync now").click()
    eventually(
        page,
        f"{base_url}/vehicles/vin/{vin}/",
        lambda p: p.locator("dt:has-text('Key paired') + dd").inner_text() == "Yes",
    )
