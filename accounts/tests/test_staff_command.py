"""`manage.py create_staff_user`: a staff user who can sign in at once (issue #16 item 7)."""

from __future__ import annotations

import io

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _run(*args: str, monkeypatch, password: str = PASSWORD) -> str:
    monkeypatch.setenv("FP_TEST_STAFF_PASSWORD", password)
    out = io.StringIO()
    call_command(
        "create_staff_user", *args, "--password-from-env", "FP_TEST_STAFF_PASSWORD", stdout=out
    )
    return out.getvalue()


def test_created_staff_user_signs_in_at_once_and_reaches_the_staff_page(client, monkeypatch):
    _run(
        "--email",
        "Ops@Example.com",
        "--permission",
        "accounts.view_link_status",
        monkeypatch=monkeypatch,
    )
    user = User.objects.get(email="ops@example.com")
    assert user.is_staff and not user.is_superuser
    address = EmailAddress.objects.get(user=user)
    assert address.verified and address.primary

    response = client.post(
        reverse("account_login"), {"login": "ops@example.com", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert client.get("/staff/links/").status_code == 200


def test_createsuperuser_alone_cannot_sign_in_which_is_why_the_command_exists(client):
    User.objects.create_superuser("root@example.com", PASSWORD)
    client.post(reverse("account_login"), {"login": "root@example.com", "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_superuser_flag_and_output_never_echoes_the_password(monkeypatch):
    out = _run("--email", "root@example.com", "--superuser", monkeypatch=monkeypatch)
    assert User.objects.get(email="root@example.com").is_superuser
    assert PASSWORD not in out
    assert "root@example.com" in out


def test_running_again_confirms_an_existing_unverified_user(client, monkeypatch):
    user = User.objects.create_superuser("root@example.com", "old-" + PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    _run("--email", "root@example.com", monkeypatch=monkeypatch)
    assert EmailAddress.objects.get(user=user).verified
    client.post(reverse("account_login"), {"login": "root@example.com", "password": PASSWORD})
    assert client.session["_auth_user_id"] == str(user.pk)


def test_unknown_permission_is_refused_and_creates_nobody(monkeypatch):
    with pytest.raises(CommandError, match="No such permission: accounts.fly"):
        _run("--email", "x@example.com", "--permission", "accounts.fly", monkeypatch=monkeypatch)
    assert not User.objects.filter(email="x@example.com").exists()


def test_weak_password_is_refused(monkeypatch):
    with pytest.raises(CommandError):
        _run("--email", "x@example.com", monkeypatch=monkeypatch, password="123")
    assert not User.objects.filter(email="x@example.com").exists()


def test_password_prompt_is_used_when_no_env_var_is_named(monkeypatch):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("create_staff_user", "--email", "p@example.com", stdout=io.StringIO())
    assert User.objects.get(email="p@example.com").check_password(PASSWORD)
