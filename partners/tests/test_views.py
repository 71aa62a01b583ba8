"""The staff page, its buttons, the admin, and who may reach them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from partners import services
from partners.models import PartnerAuditEntry, PartnerKey, PartnerRegistration

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


@pytest.mark.parametrize("persona", ["other_user", "staff"])
@pytest.mark.parametrize(("method", "name", "data"), STAFF_URLS)
def test_users_without_the_partner_permission_get_403_and_cause_no_outbound_call(
    client, request, fresh_apps, tesla_sandbox, no_preflight, persona, method, name, data
):
    # A plain user and a staff member holding no permission are refused alike, before the
    # view does anything: the "replace the key" POST included.
    client.force_login(request.getfixturevalue(persona))
    response = getattr(client, method)(reverse(name), {**data, "replace": "on"})
    assert response.status_code == 403
    assert "Permission needed" in response.content.decode() and b"<nav" in response.content
    assert tesla_sandbox.control.requests() == [] and no_preflight == []
    assert not PartnerKey.objects.exists() and not PartnerRegistration.objects.exists()
    assert not PartnerAuditEntry.objects.exists()


@pytest.mark.parametrize(("method", "name", "data"), STAFF_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(
    client, fresh_apps, tesla_sandbox, method, name, data
):
    response = getattr(client, method)(reverse(name), data)
    assert response.status_code == 302
    # The portal's own sign-in page (not the admin's), coming back here afterwards.
    assert response["Location"].startswith(f"{reverse('account_login')}?next={reverse(name)}")
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


def test_preflight_reads_the_root_from_the_public_suffix_list(fresh_apps, settings):
    # Issue #19 item 14: the last two labels made these "the same root" (com.cn).
    settings.TESLA_PARTNER_DOMAIN = "portal.foo.com.cn"
    settings.TESLA_ALLOWED_ORIGINS = ["https://bar.com.cn"]
    checks = {c.check: c for c in services.partner_preflight()}
    assert checks["Domain matches an allowed origin"].ok is False
    settings.TESLA_ALLOWED_ORIGINS = ["https://bar.com.cn", "https://www.foo.com.cn"]
    checks = {c.check: c for c in services.partner_preflight()}
    check = checks["Domain matches an allowed origin"]
    assert check.ok is True and "https://www.foo.com.cn" in check.message


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


# --- The audit log ------------------------------------------------------------------------


def test_replacing_the_key_from_the_page_is_audited_with_who_and_which_keys(
    staff_client, partner_manager, portal
):
    old = services.partner_key_generate()
    services.partner_register(region="NA")
    staff_client.post(reverse("partner_key_generate"), {"replace": "on"})
    new = PartnerKey.objects.get()
    entry = PartnerAuditEntry.objects.first()  # the newest
    assert entry.actor == partner_manager and entry.actor_label == "partners@example.com"
    assert entry.action == "key_generated" and entry.outcome == "succeeded"
    assert (entry.fingerprint, entry.previous_fingerprint) == (new.fingerprint, old.fingerprint)
    assert entry.detail == "registrations now key_mismatch: NA"
    # Visible to staff on the partner page, newest first.
    html = staff_client.get(reverse("partner_status")).content.decode()
    assert html.count('class="audit-entry"') == 3  # generate, register, replace
    assert "partners@example.com" in html and "Key generated" in html


def test_a_refused_replacement_is_audited_too(staff_client, partner_manager, portal):
    services.partner_key_generate()
    staff_client.post(reverse("partner_key_generate"))  # not confirmed
    entry = PartnerAuditEntry.objects.first()
    assert (entry.actor, entry.action, entry.outcome) == (
        partner_manager,
        "key_generated",
        "refused",
    )
    assert "already exists" in entry.detail


def test_registering_all_regions_audits_each_region_with_its_outcome(
    staff_client, partner_manager, portal, tesla_sandbox
):
    services.partner_key_generate()
    tesla_sandbox.control.fault(
        "/partner_accounts",
        method="POST",
        status=422,
        body={"response": None, "error": "invalid_resource", "error_description": "bad domain"},
        count=1,
    )
    staff_client.post(reverse("partner_register"), {"region": "all"})
    entries = PartnerAuditEntry.objects.filter(action="registered", actor=partner_manager)
    outcomes = sorted(entries.values_list("region", "outcome"))
    assert outcomes == [("CN", "succeeded"), ("EU", "succeeded"), ("NA", "failed")]
    assert "422 invalid_resource: bad domain" in entries.get(region="NA").detail


def test_the_audit_log_is_append_only(partner_manager):
    entry = services._audit(actor=partner_manager, action="checked", outcome="failed")
    entry.detail = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        PartnerAuditEntry.objects.update(detail="rewritten")
    with pytest.raises(PermissionError):
        PartnerAuditEntry.objects.all().delete()
    assert PartnerAuditEntry.objects.get().detail == ""


def test_the_key_commands_audit_as_the_command_line(fresh_apps, tmp_path):
    from django.core.management import call_command

    from partners.tests import factories

    call_command("tesla_keygen")
    pem = tmp_path / "key.pem"
    pem.write_bytes(factories.p256_sec1()[0])
    call_command("tesla_import_key", str(pem), "--force")
    entries = list(PartnerAuditEntry.objects.order_by("pk"))
    assert [(e.action, e.outcome, e.actor) for e in entries] == [
        ("key_generated", "succeeded", None),
        ("key_imported", "succeeded", None),
    ]
    assert entries[0].actor_label.startswith("command line: manage.py tesla_keygen (os user ")
    assert entries[1].actor_label.startswith("command line: manage.py tesla_import_key ")
    assert entries[1].previous_fingerprint == entries[0].fingerprint


def test_the_register_command_audits_each_region(portal):
    from django.core.management import call_command

    services.partner_key_generate()
    call_command("tesla_register", "--region", "EU")
    entry = PartnerAuditEntry.objects.first()
    assert (entry.action, entry.region, entry.outcome) == ("registered", "EU", "succeeded")
    assert entry.actor_label.startswith("command line: manage.py tesla_register ")


# --- Django admin: the same permission, the same log ----------------------------------------

PARTNER_MODEL_PERMS = [
    f"partners.{verb}_{model}"
    for verb in ("add", "change", "delete", "view")
    for model in ("partnerkey", "partnerregistration", "partnerauditentry")
]


def test_admin_without_the_partner_permission_cannot_register_nor_delete_the_key(
    client, staff_with, portal, tesla_sandbox
):
    # Every permission Django generates for the partner models, but not the partner one.
    client.force_login(staff_with(*PARTNER_MODEL_PERMS))
    key = services.partner_key_generate()
    services.partner_register(region="EU")
    row = PartnerRegistration.objects.get()
    tesla_sandbox.control.clear_requests()
    audited = PartnerAuditEntry.objects.count()

    changelist = reverse("admin:partners_partnerregistration_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and "register_again" not in page.content.decode()
    client.post(changelist, {"action": "register_again", "_selected_action": [row.pk]})
    assert client.get(reverse("admin:partners_partnerkey_add")).status_code == 403
    assert client.post(reverse("admin:partners_partnerkey_delete", args=[key.pk])).status_code in {
        403,
        302,
    }
    assert PartnerKey.objects.filter(pk=key.pk).exists()
    assert tesla_sandbox.control.requests() == []
    assert PartnerAuditEntry.objects.count() == audited


def test_admin_register_again_is_audited_with_the_admin_user(client, partner_manager, portal):
    client.force_login(partner_manager)
    services.partner_key_generate()
    services.partner_register(region="EU")
    row = PartnerRegistration.objects.get()
    response = client.post(
        reverse("admin:partners_partnerregistration_changelist"),
        {"action": "register_again", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "Registered: 1. Not registered: 0." in response.content.decode()
    entry = PartnerAuditEntry.objects.first()
    assert (entry.actor, entry.action, entry.region) == (partner_manager, "registered", "EU")
    # The log itself is in admin, read-only.
    log = client.get(reverse("admin:partners_partnerauditentry_changelist"))
    assert log.status_code == 200 and "partners@example.com" in log.content.decode()
    change = client.post(
        reverse("admin:partners_partnerauditentry_change", args=[entry.pk]), {"detail": "x"}
    )
    assert change.status_code == 403
    assert PartnerAuditEntry.objects.get(pk=entry.pk).detail == entry.detail
