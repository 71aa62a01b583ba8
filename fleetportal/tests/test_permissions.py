"""The staff gate (fleetportal/permissions.py) on a real staff page: who passes, who gets 403,
who is sent to sign in. The security sweep tries every staff URL; this names the rules."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from fleetportal.permissions import VIEW_LINK_STATUS, has_staff_permission, staff_holding

pytestmark = pytest.mark.django_db

URL = "/staff/links/"


def _get(user) -> int:
    client = Client()
    client.force_login(user)
    return client.get(URL).status_code


def _link_status_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="accounts", codename="view_link_status")


def test_staff_with_the_permission_pass(staff_with):
    assert reverse("link_status") == URL
    assert _get(staff_with(VIEW_LINK_STATUS)) == 200


def test_the_permission_may_come_from_a_group(staff):
    group = Group.objects.create(name="Support")
    group.permissions.add(_link_status_permission())
    staff.groups.add(group)
    assert _get(staff) == 200


def test_superusers_hold_every_staff_permission():
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    assert _get(root) == 200


def test_staff_without_the_permission_get_the_portals_403_page(staff):
    client = Client()
    client.force_login(staff)
    response = client.get(URL)
    assert response.status_code == 403
    html = response.content.decode()
    assert "Permission needed" in html and "<nav" in html
    assert "ask an administrator" in html


def test_the_permission_without_staff_status_is_not_enough(owner):
    owner.user_permissions.add(_link_status_permission())
    assert _get(owner) == 403


def test_an_inactive_staff_member_holds_no_permission(staff_with):
    user = staff_with(VIEW_LINK_STATUS)
    assert has_staff_permission(user, VIEW_LINK_STATUS)
    user.is_active = False
    assert not has_staff_permission(user, VIEW_LINK_STATUS)


def test_anonymous_visitors_go_to_the_portal_sign_in_and_come_back(client):
    response = client.get(URL + "?page=2")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=/staff/links/%3Fpage%3D2"


def test_staff_holding_lists_exactly_whom_the_gate_lets_in(staff, staff_with, owner):
    """The queryset form of the rule (whom the silence mails go to) and the gate agree."""
    direct = staff_with(VIEW_LINK_STATUS, email="direct@example.com")
    grouped = UserFactory(email="grouped@example.com", is_staff=True)
    group = Group.objects.create(name="Support")
    group.permissions.add(_link_status_permission())
    grouped.groups.add(group)
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    asleep = staff_with(VIEW_LINK_STATUS, email="asleep@example.com")
    asleep.is_active = False
    asleep.save()
    owner.user_permissions.add(_link_status_permission())  # not staff: not enough
    everyone = [staff, owner, direct, grouped, root, asleep]
    let_in = {user.pk for user in everyone if has_staff_permission(user, VIEW_LINK_STATUS)}
    assert let_in == {direct.pk, grouped.pk, root.pk}
    assert set(staff_holding(VIEW_LINK_STATUS).values_list("pk", flat=True)) == let_in
