"""Admin and the staff token-status page (issue #16 item 9): one "Accounts" section, health
read-only, drill-downs that say they open the admin."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import reverse

from accounts.models import TeslaLink
from accounts.tests.tesla_flow import link

pytestmark = pytest.mark.django_db


def test_admin_index_has_one_accounts_section_and_ours_is_named_for_what_it_holds(staff_with):
    admin = staff_with("accounts.view_teslalink", "account.view_emailaddress")
    client = Client()
    client.force_login(admin)

    html = client.get(reverse("admin:index")).content.decode()

    assert html.count(">Accounts<") == 1
    assert "Users and Tesla links" in html


def test_a_links_health_is_read_only_in_the_admin(owner_client, tesla_apps, tesla_sandbox):
    link(owner_client, "alice@example.com")
    tesla_link = TeslaLink.objects.get()
    model_admin = site._registry[TeslaLink]

    assert {"health", "health_reason"} <= set(model_admin.get_readonly_fields(None, tesla_link))


def test_admin_change_page_shows_health_without_radio_buttons(
    owner_client, tesla_apps, tesla_sandbox, staff_with
):
    link(owner_client, "alice@example.com")
    tesla_link = TeslaLink.objects.get()
    client = Client()
    client.force_login(staff_with("accounts.view_teslalink", "accounts.change_teslalink"))

    html = client.get(reverse("admin:accounts_teslalink_change", args=[tesla_link.pk])).content
    html = html.decode()

    assert 'name="health"' not in html
    assert 'type="radio"' not in html


def test_status_page_says_its_drill_downs_open_the_admin(staff_with):
    client = Client()
    client.force_login(
        staff_with(
            "accounts.view_link_status", "accounts.view_teslalink", "accounts.view_refreshattempt"
        )
    )

    html = client.get(reverse("link_status")).content.decode()

    assert "in the Django admin" in html
    assert "Links that need a relink (admin)" in html
    assert reverse("admin:accounts_refreshattempt_changelist") in html


def test_status_page_hides_admin_links_from_staff_without_admin_permissions(staff_with):
    client = Client()
    client.force_login(staff_with("accounts.view_link_status"))

    html = client.get(reverse("link_status")).content.decode()

    assert reverse("admin:accounts_teslalink_changelist") not in html
