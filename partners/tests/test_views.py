"""The staff page, its buttons, the admin, and who may reach them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from partners import services
from partners.models import PartnerKey, PartnerRegistration

pytestmark = pytest.mark.django_db(transaction=True)

STAFF_URLS = [
    ("get", "partner_status", {}),
    ("post", "partner_key_generate", {}),
    ("post", "partner_register", {"region": "all"}),
    ("post", "partner_check", {"region": "NA"}),
    ("get", "partner_pairing", {"region": "NA", "vin": "5YJ3E1EA7PF000001"}),
]


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def no_preflight(monkeypatch):
    """Counts pre-flight runs: they fetch our own key URL, an outbound call too."""
    runs = []
    original = services.partner_preflight
    monkeypatch.setattr(services, "partner_preflight", lambda: runs.append(1) or original())
    return runs


@pytest.mark.parametrize(("method", "name", "data"), STAFF_URLS)
def test_other_users_get_404_and_cause_no_outbound_call(
    client, other_user, fresh_apps, tesla_sandbox, no_preflight, method, name, data
):
    client.force_login(other_user)
    response = getattr(client, method)(reverse(name), data)
    assert response.status_code == 404
    assert tesla_sandbox.control.requests() == [] and no_preflight == []
    assert not PartnerKey.objects.exists() and not PartnerRegistration.objects.exists()


@pytest.mark.parametrize(("method", "name", "data"), STAFF_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(
    client, fresh_apps, tesla_sandbox, method, name, data
):
    response = getattr(client, method)(reverse(name), data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert tesla_sandbox.control.requests() == []


def test_staff_generates_a_key_and_sees_its_fingerprint_never_the_private_key(staff_client, portal):
    response = staff_client.post(reverse("partner_key_generate"), follow=True)
    key = PartnerKey.objects.get()
    assert f"fingerprint {key.fingerprint}" in _messages(response)[0]
    html = response.content.decode()
    assert key.fingerprint in html and "BEGIN PUBLIC KEY" in html
    assert "PRIVATE KEY" not in html
    assert "encrypted in the database" in html


def test_generate_refuses_to_replace_a_key_unless_confirmed(staff_client, portal):
    services.partner_key_generate()
    before = PartnerKey.objects.get().fingerprint
    response = staff_client.post(reverse("partner_key_generate"), follow=True)
    assert "already exists" in _messages(response)[0]
    assert PartnerKey.objects.get().fingerprint == before
    staff_client.post(reverse("partner_key_generate"), {"replace": "on"})
    assert PartnerKey.objects.get().fingerprint != before


def test_staff_registers_all_regions_from_the_page_and_sees_three_green(staff_client, portal):
    staff_client.post(reverse("partner_key_generate"))
    page = staff_client.get(reverse("partner_status")).content.decode()
    assert page.count("check check-ok") == 7  # key, key URL, domain, origin, 3 credentials
    response = staff_client.post(reverse("partner_register"), {"region": "all"}, follow=True)
    assert response.status_code == 200
    assert sorted(_messages(response)) == sorted(
        f"{code}: registered, and Tesla holds this portal's key." for code in ("NA", "EU", "CN")
    )
    html = response.content.decode()
    assert html.count('class="state state-registered"') == 3
    assert set(PartnerRegistration.objects.values_list("state", flat=True)) == {"registered"}


def test_a_region_button_shows_teslas_422_and_the_fix(staff_client, portal, tesla_sandbox):
    services.partner_key_generate()
    tesla_sandbox.control.fault(
        "/partner_accounts",
        method="POST",
        status=422,
        body={"response": None, "error": "invalid_resource", "error_description": "bad domain"},
    )
    response = staff_client.post(reverse("partner_register"), {"region": "EU"}, follow=True)
    (message,) = _messages(response)
    assert message.startswith("EU: Error. Tesla refused the domain or the key.")
    html = response.content.decode()
    assert "422 invalid_resource: bad domain" in html
    assert PartnerRegistration.objects.get().state == "error"


def test_register_without_a_key_says_so_and_saves_nothing(staff_client, portal, tesla_sandbox):
    response = staff_client.post(reverse("partner_register"), {"region": "NA"}, follow=True)
    assert _messages(response) == [
        "NA was not registered: There is no application key yet: generate or import one first."
    ]
    assert not PartnerRegistration.objects.exists()
    assert tesla_sandbox.control.requests() == []


def test_unknown_region_is_a_bad_request(staff_client, portal, tesla_sandbox):
    response = staff_client.post(reverse("partner_register"), {"region": "XX"})
    assert response.status_code == 400
    assert tesla_sandbox.control.requests() == []


def test_check_button_reads_back_what_tesla_holds(staff_client, portal):
    services.partner_key_generate()
    services.partner_register(region="NA")
    services.partner_key_generate(force=True)
    response = staff_client.post(reverse("partner_check"), {"region": "NA"}, follow=True)
    assert _messages(response) == ["NA: Key mismatch."]
    assert "Tesla holds a different key" in response.content.decode()


def test_preflight_lists_what_is_wrong_before_registering(staff_client, fresh_apps, settings):
    settings.TESLA_PARTNER_DOMAIN = "https://portal.example.com/"
    settings.TESLA_ALLOWED_ORIGINS = []
    settings.TESLA_CN_CLIENT_SECRET = ""
    html = staff_client.get(reverse("partner_status")).content.decode()
    assert "There is no application key yet" in html
    assert "contains a scheme" in html
    assert "Unknown: TESLA_ALLOWED_ORIGINS is not set" in html
    assert "Set TESLA_CN_CLIENT_ID and TESLA_CN_CLIENT_SECRET." in html


def test_preflight_reports_an_unreachable_key_url(staff_client, fresh_apps, settings):
    services.partner_key_generate()
    settings.PORTAL_PUBLIC_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    checks = services.partner_preflight()
    url_check = next(c for c in checks if c.check.startswith("Public key served at"))
    assert url_check.ok is False and "Not reachable" in url_check.message


def test_preflight_flags_a_domain_outside_the_allowed_origins(fresh_apps, settings):
    settings.TESLA_PARTNER_DOMAIN = "portal.example.org"
    settings.TESLA_ALLOWED_ORIGINS = ["https://www.example.com"]
    checks = {c.check: c for c in services.partner_preflight()}
    assert checks["Domain matches an allowed origin"].ok is False
    settings.TESLA_ALLOWED_ORIGINS = ["https://www.example.org"]
    checks = {c.check: c for c in services.partner_preflight()}
    assert checks["Domain matches an allowed origin"].ok is True


def test_pairing_page_shows_the_link_and_an_inline_svg_qr_code(staff_client, fresh_apps, settings):
    settings.TESLA_ENV = "production"
    settings.TESLA_PARTNER_DOMAIN = "portal.example.com"
    response = staff_client.get(
        reverse("partner_pairing"), {"region": "CN", "vin": "lrw3e7fs0rc257863"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "https://www.tesla.cn/_ak/portal.example.com?vin=LRW3E7FS0RC257863" in html
    assert '<svg width="' in html and 'class="pairing-qr"' in html


def test_pairing_page_refuses_a_bad_vin(staff_client, fresh_apps):
    response = staff_client.get(
        reverse("partner_pairing"), {"region": "NA", "vin": "IOQ" * 5 + "12"}
    )
    assert response.status_code == 400
    assert "without I, O or Q" in response.content.decode()


def test_page_renders_in_simplified_chinese(staff_client, portal):
    services.partner_key_generate()
    services.partner_register(region="NA")
    staff_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = staff_client.get(reverse("partner_status")).content.decode()
    assert '<html lang="zh-hans">' in html
    assert "合作伙伴接入" in html and "已注册" in html and "预检" in html
    staff_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = staff_client.get(reverse("partner_status")).content.decode()
    assert "Partner onboarding" in html and "Registered" in html


def test_admin_lists_registrations_with_filters_and_never_the_private_key(admin_client, portal):
    key = services.partner_key_generate()
    services.partner_register(region="NA")
    changelist = admin_client.get(reverse("admin:partners_partnerregistration_changelist"))
    assert changelist.status_code == 200
    assert "By state" in changelist.content.decode()
    key_page = admin_client.get(reverse("admin:partners_partnerkey_change", args=[key.pk]))
    html = key_page.content.decode()
    assert key.fingerprint in html and "PRIVATE KEY" not in html and "gAAAAA" not in html


def test_admin_action_registers_again(admin_client, portal):
    services.partner_key_generate()
    services.partner_register(region="EU")
    services.partner_key_generate(force=True)
    row = PartnerRegistration.objects.get()
    assert row.state == "key_mismatch"
    response = admin_client.post(
        reverse("admin:partners_partnerregistration_changelist"),
        {"action": "register_again", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "Registered: 1. Not registered: 0." in response.content.decode()
    row.refresh_from_db()
    assert row.state == "registered"


def test_a_registration_of_an_earlier_domain_shows_as_not_registered(
    staff_client, portal, settings
):
    services.partner_key_generate()
    services.partner_register(region="NA")
    settings.TESLA_PARTNER_DOMAIN = "127.0.0.1:1"
    html = staff_client.get(reverse("partner_status")).content.decode()
    assert 'class="state state-registered"' not in html
    assert html.count('class="state state-not_registered"') == 3
