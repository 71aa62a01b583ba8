"""The security sweep (issue 9): secrets never leak, foreign ids answer 404 with no call to
Tesla, state changes need POST and CSRF, production cookies are locked down, logins are
rate-limited.

The URL sweeps walk the project's resolver, so a new URL pattern is tried automatically; it
must also be added to ROUTES below, or `test_every_url_pattern_is_classified` fails and says
which one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts import services as account_services
from accounts import tasks as account_tasks
from accounts.models import TeslaLink, User
from accounts.tests import tesla_flow
from accounts.tests.factories import UserFactory
from fleetportal.permissions import STAFF_PERMISSIONS
from fleetportal.tests.production import production_env
from fleetportal.tests.security_helpers import (
    Canaries,
    Pattern,
    snapshot,
    snapshot_diff,
    task_messages,
    url_patterns,
)
from partners import selectors as partner_selectors
from partners import services as partner_services
from partners.models import PartnerToken
from telemetry.models import TelemetryConfig, TelemetryConfigVersion, TelemetryRun
from vehicles import services as vehicle_services
from vehicles.models import SyncRun, Vehicle, VehicleAccess

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ALICE = "alice@example.com"
VIN = "5YJ3E1EA7PF000001"

# --- The classification of every URL pattern ---------------------------------------------
#
# Who may use it (what another, non-staff user gets):
PUBLIC = "public"  # anyone; no object in the URL
USER = "user"  # any signed-in user; no object in the URL (shows only the user's own things)
OWNER = "owner"  # the object in the URL must be the user's own: 404 otherwise
# Staff pages: fleetportal.permissions.staff_permission_required, each with its area's
# permission (read from the view): 403 without it, the portal's sign-in page when anonymous.
STAFF = "staff"
ADMIN = "admin"  # Django admin: 302 to the admin login
KEYED = "keyed"  # allauth's emailed links: the key in the URL is the capability
#
# What a GET and a POST do:
READ = "read"  # changes nothing
POST = "post"  # changes state; POST only, GET answers 405
CONFIRM = "confirm"  # changes state on POST; GET shows a confirmation page
FORM = "form"  # GET shows a form; a valid POST changes state
OAUTH = "oauth"  # Tesla redirects the browser back with a GET; acts only with a valid state


@dataclass(frozen=True)
class Route:
    access: str
    kind: str
    # URL kwarg -> which of the owner's objects goes in it ("uid", "key": made-up values)
    objects: tuple[tuple[str, str], ...] = ()


def _r(access: str, kind: str, **objects: str) -> Route:
    return Route(access, kind, tuple(sorted(objects.items())))


ROUTES: dict[str, Route] = {
    # fleetportal
    "home": _r(PUBLIC, READ),
    "healthz": _r(PUBLIC, READ),
    "set_language": _r(PUBLIC, FORM),  # the language cookie only
    # allauth (email accounts)
    "account_login": _r(PUBLIC, FORM),
    "account_logout": _r(USER, CONFIRM),
    "account_inactive": _r(PUBLIC, READ),
    "account_signup": _r(PUBLIC, FORM),
    "account_reauthenticate": _r(USER, FORM),
    "account_request_reauthentication_code": _r(USER, FORM),
    "account_confirm_reauthentication_code": _r(USER, FORM),
    "account_email": _r(USER, FORM),
    "account_email_verification_sent": _r(PUBLIC, READ),
    "account_change_password": _r(USER, FORM),
    "account_set_password": _r(USER, FORM),
    "account_reset_password": _r(PUBLIC, FORM),
    "account_reset_password_done": _r(PUBLIC, READ),
    "account_reset_password_from_key": _r(KEYED, FORM, uidb36="uid", key="key"),
    "account_reset_password_from_key_done": _r(PUBLIC, READ),
    "account_confirm_email": _r(KEYED, CONFIRM, key="key"),
    "account_confirm_login_code": _r(PUBLIC, FORM),
    # allauth (linking Tesla accounts: connect only)
    "socialaccount_connections": _r(USER, FORM),
    "socialaccount_signup": _r(PUBLIC, FORM),
    "socialaccount_login_cancelled": _r(PUBLIC, READ),
    "socialaccount_login_error": _r(PUBLIC, READ),
    "accounts/social/login/cancelled/": _r(PUBLIC, READ),
    "accounts/social/login/error/": _r(PUBLIC, READ),
    "accounts/social/signup/": _r(PUBLIC, READ),
    "accounts/social/connections/": _r(PUBLIC, READ),
    "tesla_login": _r(USER, CONFIRM),
    "tesla_callback": _r(USER, OAUTH),
    "tesla_cn_login": _r(USER, CONFIRM),
    "tesla_cn_callback": _r(USER, OAUTH),
    # accounts
    "dashboard": _r(USER, READ),
    "link_unlink": _r(OWNER, CONFIRM, pk="link"),
    "link_relink": _r(OWNER, POST, pk="link"),
    "link_paste": _r(USER, FORM),
    "link_status": _r(STAFF, READ),
    "resend_confirmation": _r(PUBLIC, POST),  # same answer for any address; rate-limited
    # partners
    "partner_public_key": _r(PUBLIC, READ),
    "partner_status": _r(STAFF, READ),
    "partner_key_generate": _r(STAFF, POST),
    "partner_register": _r(STAFF, POST),
    "partner_check": _r(STAFF, POST),
    "partner_pairing": _r(STAFF, READ),
    # vehicles
    "vehicles:list": _r(USER, READ),
    "vehicles:detail": _r(OWNER, READ, pk="vehicle"),
    "vehicles:check": _r(OWNER, POST, pk="vehicle"),
    # The pairing link behind the QR code: the signed token is the capability (the phone that
    # scans it is usually not logged in); it only queues one key re-check and redirects.
    "vehicles:pairing_open": _r(KEYED, READ, token="key"),
    "vehicles:by_vin": _r(OWNER, READ, vin="vin"),
    "vehicles:sync": _r(USER, POST),
    "vehicles:sync_status": _r(USER, READ),
    "vehicles:roster": _r(STAFF, FORM),
    # telemetry
    "telemetry:list": _r(STAFF, READ),
    "telemetry:create": _r(STAFF, FORM),
    "telemetry:detail": _r(STAFF, READ, pk="config"),
    "telemetry:edit": _r(STAFF, FORM, pk="config"),
    "telemetry:assign": _r(STAFF, POST, pk="config"),
    "telemetry:push": _r(STAFF, POST, pk="config"),
    "telemetry:remove": _r(STAFF, CONFIRM, pk="config"),
    "telemetry:run_status": _r(STAFF, READ, run_id="run"),
    "telemetry:errors": _r(STAFF, READ),
    "telemetry:overview": _r(STAFF, READ),
    "telemetry:fleet": _r(STAFF, READ),
    "telemetry:fleet_assign": _r(STAFF, POST),
    "telemetry:vehicle": _r(OWNER, READ, pk="vehicle"),
    "telemetry:vehicle_resync": _r(STAFF, POST, pk="vehicle"),
    "telemetry:vehicle_live": _r(OWNER, READ, pk="vehicle"),
    "telemetry:vehicle_live_data": _r(OWNER, READ, pk="vehicle"),
    # usage
    "usage:overview": _r(STAFF, READ),
    "usage:resume": _r(STAFF, POST),
    # Django admin: its own login page; every other admin URL follows ADMIN_RULES below.
    "admin:login": _r(PUBLIC, FORM),
}

# The admin generates its URLs per registered model, every one behind `admin_view` (staff
# only), so they are classified by rule: a newly registered model is covered with no edit.
ADMIN_EXACT = {
    "admin:logout": POST,
    "admin:password_change": FORM,
    "admin:password_change_done": READ,
}
ADMIN_SUFFIXES = [
    ("_changelist", FORM),  # POST runs admin actions
    ("_add", FORM),
    ("_change", FORM),  # includes the user's _password_change
    ("_delete", CONFIRM),
    ("_history", READ),
]  # anything else (index, app_list, jsi18n, autocomplete, view_on_site, catch-all): READ


def classify(pattern: Pattern) -> Route | None:
    if pattern.key in ROUTES:
        return ROUTES[pattern.key]
    if not (pattern.key.startswith("admin:") or pattern.route.startswith("admin/")):
        return None
    if pattern.key in ADMIN_EXACT:
        return Route(ADMIN, ADMIN_EXACT[pattern.key])
    for suffix, kind in ADMIN_SUFFIXES:
        if pattern.key.endswith(suffix):
            return Route(ADMIN, kind)
    return Route(ADMIN, READ)


# What another (signed-in, non-staff) user gets, by access class: (GET, POST) status codes.
OTHER_USER_GETS: dict[str, tuple[set[int], set[int]]] = {
    OWNER: ({404}, {404, 405}),  # 405 when the view takes no POST, whatever the id
    STAFF: ({403}, {403}),
    ADMIN: ({302}, {302}),
}


# --- The world: the owner's real linked account, cars, the partner key, a telemetry config --


@dataclass
class World:
    owner: User
    superuser: User
    link: TeslaLink
    vehicle: Vehicle
    config: TelemetryConfig
    run: TelemetryRun
    canaries: Canaries
    owner_data: list[str]


def _secrets_of(link: TeslaLink, canaries: Canaries, settings) -> None:
    link.refresh_from_db()
    canaries.add("access token", link.access_token)
    canaries.add("refresh token", link.refresh_token)
    canaries.add("client secret (global)", settings.TESLA_CLIENT_SECRET)
    canaries.add("client secret (China)", settings.TESLA_CN_CLIENT_SECRET)
    for token in PartnerToken.objects.all():
        canaries.add(f"partner token {token.region}", token.access_token)


def _private_key_canaries(canaries: Canaries) -> None:
    from cryptography.hazmat.primitives import serialization

    row = partner_selectors.partner_key()
    assert row is not None
    public = row.public_key_pem + "".join(row.public_key_pem.splitlines())
    canaries.add_pem("partner private key (stored PEM)", row.private_key, public=public)
    key = partner_selectors.partner_private_key()
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        canaries.add_pem("partner private key (PEM)", pem.decode(), public=public)
    canaries.add("partner private key (scalar)", f"{key.private_numbers().private_value:064x}")


def _raw_ciphertexts(canaries: Canaries) -> None:
    """The encrypted columns as stored: not even the ciphertext may be rendered."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounts_teslalink")
        for access, refresh in cursor.fetchall():
            canaries.add("access token (ciphertext)", access)
            canaries.add("refresh token (ciphertext)", refresh)
        cursor.execute("SELECT private_key FROM partners_partnerkey")
        for (private,) in cursor.fetchall():
            canaries.add("partner private key (ciphertext)", private)


@pytest.fixture
def world(owner, owner_client, tesla_apps, tesla_sandbox, settings) -> World:
    # The staff pages fetch the public-key URL; a closed local port answers at once.
    settings.PORTAL_PUBLIC_URL = "http://127.0.0.1:9"
    response = tesla_flow.link(owner_client, ALICE)
    assert response.status_code == 200
    link = TeslaLink.objects.get(email=ALICE)
    vehicle_services.vehicles_sync(link_id=link.pk)
    vehicle = Vehicle.objects.get(vin=VIN)
    partner_services.partner_key_generate()
    canaries = Canaries()
    _secrets_of(link, canaries, settings)  # the first pair: rotated just below
    # A refresh (RefreshAttempt row) and a registration check (PartnerRegistration row, and a
    # cached partner token): the admin then has something to show for each.
    account_services.link_refresh_tokens(link_id=link.pk, force=True)
    partner_services.partner_registration_check(region="NA")
    config = TelemetryConfig.objects.create(name="Fleet", hostname="telemetry.example.com", ca="")
    version = TelemetryConfigVersion.objects.create(
        config=config, number=1, content_hash="0" * 64, payload={}
    )
    run = TelemetryRun.objects.create(config=config, version=version)
    superuser = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    _secrets_of(link, canaries, settings)
    _private_key_canaries(canaries)
    _raw_ciphertexts(canaries)
    tesla_sandbox.control.clear_requests()
    return World(
        owner=owner,
        superuser=superuser,
        link=link,
        vehicle=vehicle,
        config=config,
        run=run,
        canaries=canaries,
        owner_data=[
            *Vehicle.objects.filter(accesses__link=link).values_list("vin", flat=True),
            ALICE,
            owner.email,
            link.subject,
        ],
    )


def _client(user: User | None, **kwargs) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def _object_value(world: World, which: str, *, missing: bool = False) -> str | int:
    """The owner's object named in ROUTES, or one that does not exist."""
    if which == "uid":  # allauth's password-reset links: a user id and a key, both made up
        return "zz"
    if which == "key":
        return "made-up-key"
    if missing:
        return "5YJ3E1EA7PF999999" if which == "vin" else 999_999
    return {
        "link": world.link.pk,
        "vehicle": world.vehicle.pk,
        "vin": world.vehicle.vin,
        "config": world.config.pk,
        "run": world.run.pk,
    }[which]


def _admin_kwargs(world: World, pattern: Pattern, *, missing: bool) -> dict[str, object]:
    """The owner's own object of the model an admin URL is about (or a missing id)."""
    model = None
    for registered in admin.site._registry:
        prefix = f"admin:{registered._meta.app_label}_{registered._meta.model_name}_"
        if pattern.key.startswith(prefix):
            model = registered
    owned = {
        TeslaLink: world.link.pk,
        Vehicle: world.vehicle.pk,
        VehicleAccess: VehicleAccess.objects.filter(link=world.link)
        .values_list("pk", flat=True)
        .first(),
        User: world.owner.pk,
        SocialAccount: SocialAccount.objects.filter(user=world.owner)
        .values_list("pk", flat=True)
        .first(),
        TelemetryConfig: world.config.pk,
    }
    object_id = owned.get(model) if model is not None else None
    if object_id is None and model is not None:
        object_id = model.objects.values_list("pk", flat=True).first() or 1
    values: dict[str, object] = {
        "object_id": 999_999 if missing else (object_id or world.link.pk),
        "id": 999_999 if missing else world.owner.pk,
        "app_label": "accounts",
        "content_type_id": ContentType.objects.get_for_model(TeslaLink).pk,
        "url": "nothing-here/",
    }
    return {name: values[name] for name in pattern.kwargs}


def url_for(world: World, pattern: Pattern, route: Route, *, missing: bool = False) -> str:
    if not pattern.name:
        if pattern.kwargs:  # the admin's catch-all
            return "/admin/nothing-here/"
        return "/" + pattern.route
    if route.access == ADMIN or pattern.key.startswith("admin:"):
        return reverse(pattern.name, kwargs=_admin_kwargs(world, pattern, missing=missing))
    objects = dict(route.objects)
    kwargs = {name: _object_value(world, objects[name], missing=missing) for name in pattern.kwargs}
    return reverse(pattern.name, kwargs=kwargs)


def _classified() -> list[tuple[Pattern, Route]]:
    return [(p, r) for p in url_patterns() if (r := classify(p)) is not None]


# --- 1. Secrets never appear -------------------------------------------------------------


def test_tokens_never_reach_logs_task_messages_or_emails(
    owner_client, tesla_apps, tesla_sandbox, settings, caplog, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    caplog.set_level(logging.DEBUG)  # the root logger: every library's debug output
    canaries = Canaries()
    with task_messages(monkeypatch) as published:
        with django_capture_on_commit_callbacks(execute=True):
            tesla_flow.link(owner_client, ALICE)
        link = TeslaLink.objects.get(email=ALICE)
        _secrets_of(link, canaries, settings)

        with django_capture_on_commit_callbacks(execute=True):
            assert account_services.link_refresh_tokens(link_id=link.pk, force=True) == "refreshed"
        _secrets_of(link, canaries, settings)
        vehicle_services.vehicles_sync(link_id=link.pk)
        with django_capture_on_commit_callbacks(execute=True):
            vehicle_services.vehicles_sync_queue(link=link, trigger="user")

        # Consent revoked at Tesla: the next refresh fails and the owner is emailed.
        tesla_sandbox.control.revoke_consent(ALICE, client_id=tesla_apps["global"]["client_id"])
        with django_capture_on_commit_callbacks(execute=True):
            assert account_services.link_refresh_tokens(link_id=link.pk, force=True) == "broken"
        assert account_tasks.link_notify_needs_relink(link.pk) is True

    link.refresh_from_db()
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert len(canaries.pieces) >= 8, "the flow should have produced two token pairs"

    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert canaries.found_in(logged) == []
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG was captured

    tasks = [m for m in published if m.task != "<producer>"]
    assert {m.task for m in tasks} >= {
        "vehicles.tasks.vehicles_sync_link",
        "accounts.tasks.link_notify_needs_relink",
    }
    for message in published:
        assert canaries.found_in(message.raw) == [], message.task
    for message in tasks:
        # Tasks take ids (and flags), never a token or an object.
        values = list(message.args) + list(message.kwargs.values())
        assert all(v is None or isinstance(v, int | bool) for v in values), message

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    text = " ".join(
        [email.subject, email.body, *(str(a[0]) for a in getattr(email, "alternatives", []))]
    )
    assert "/dashboard/" in text
    assert canaries.found_in(text) == []


def test_admin_pages_show_no_token_nor_private_key(world):
    client = _client(world.superuser)
    visited = []
    for model in admin.site._registry:
        opts = model._meta
        urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
        for pk in model.objects.values_list("pk", flat=True)[:5]:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]))
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[pk]))
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            assert world.canaries.found_in(response.content) == [], url
            visited.append(url)
    # The pages that matter were among them, with their objects.
    for model in ("teslalink", "refreshattempt", "partnerkey", "partnerregistration", "vehicle"):
        assert any(f"/{model}/" in url and url.endswith("/change/") for url in visited), model
    assert len(world.canaries.pieces) > 10


@pytest.mark.usefixtures("worker_and_beat_up")  # /healthz answers 200, not 503
def test_no_page_renders_a_token_or_the_private_key(world):
    # Every GET-able URL pattern, as whoever may see it (owner pages as the owner, staff and
    # admin pages as a superuser), with the owner's real objects in the URL.
    for pattern, route in _classified():
        user = world.superuser if route.access in (STAFF, ADMIN) else None
        client = _client(user or world.owner)
        response = client.get(url_for(world, pattern, route))
        assert response.status_code < 500, (pattern.key, response.status_code)
        body = b"".join(response) if response.streaming else response.content
        assert world.canaries.found_in(body) == [], pattern.key
    assert any(label.startswith("partner token") for label in world.canaries.pieces.values())


def test_error_pages_show_no_secret(world, monkeypatch):
    client = _client(world.owner, raise_request_exception=False)
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert world.canaries.found_in(missing.content) == []

    # A crash whose message carries a token (the worst case): the 500 page stays generic.
    secret = world.link.access_token

    def boom(**kwargs):
        raise RuntimeError(f"unexpected failure holding {secret}")

    monkeypatch.setattr("vehicles.views.selectors.vehicle_accesses_for_user", boom)
    crashed = client.get(reverse("vehicles:list"))
    assert crashed.status_code == 500
    assert world.canaries.found_in(crashed.content) == []
    assert b"Traceback" not in crashed.content


# --- 2. Another user's ids answer 404, and nothing is asked of Tesla ----------------------


def test_every_url_pattern_is_classified():
    unclassified = sorted(p.key for p in url_patterns() if classify(p) is None)
    assert unclassified == [], (
        "New URL patterns: classify them in ROUTES (fleetportal/tests/test_security.py) "
        f"so the security sweep knows who may use them and what they change: {unclassified}"
    )


def test_every_object_in_a_url_is_named_in_the_table():
    for pattern, route in _classified():
        if route.access == ADMIN or not pattern.name:
            continue
        assert set(pattern.kwargs) == {name for name, _ in route.objects}, pattern.key


@pytest.mark.usefixtures("worker_and_beat_up")  # /healthz answers 200, not 503
def test_another_users_ids_answer_404_with_no_call_to_tesla(world, other_user, tesla_sandbox):
    # The other user has a linked account and cars of their own: scoping must be by owner,
    # not merely "has some link".
    tesla_flow.link(_client(other_user), "erika@example.de")
    vehicle_services.vehicles_sync(link_id=TeslaLink.objects.get(email="erika@example.de").pk)
    assert Vehicle.objects.filter(accesses__link__user=other_user).exists()
    before = tesla_sandbox.control.requests()
    rows_before = snapshot()
    owner_runs = list(SyncRun.objects.filter(link__user=world.owner).values())
    checked = 0
    for pattern, route in _classified():
        url = url_for(world, pattern, route)
        for method in ("get", "post"):
            response = getattr(_client(other_user), method)(url)
            body = b"".join(response) if response.streaming else response.content
            leaked = [d for d in world.owner_data if d.encode() in body]
            assert leaked == [], (method, pattern.key, leaked)
            assert response.status_code < 500, (method, pattern.key, response.status_code)
            if route.access not in OTHER_USER_GETS:
                continue
            expected = OTHER_USER_GETS[route.access][method == "post"]
            assert response.status_code in expected, (method, pattern.key, response.status_code)
            if response.status_code == 302:
                # The admin sends a non-staff user's logout to its index, which asks for login.
                target = reverse("admin:index" if pattern.key == "admin:logout" else "admin:login")
                assert response["Location"].startswith(target), pattern.key
            if pattern.kwargs:
                # An existing id of someone else and a missing id are indistinguishable.
                other = getattr(_client(other_user), method)(
                    url_for(world, pattern, route, missing=True)
                )
                assert other.status_code == response.status_code, (method, pattern.key)
                checked += 1
    assert checked >= 10
    assert tesla_sandbox.control.requests() == before
    # Only the other user's own "Sync now" queued something (for their own link).
    assert set(snapshot_diff(rows_before, snapshot())) <= {"vehicles.syncrun"}
    assert list(SyncRun.objects.filter(link__user=world.owner).values()) == owner_runs


# --- 2b. Staff pages: one gate, one permission per area, the same answer everywhere --------


def _staff_routes() -> list[tuple[Pattern, Route]]:
    routes = [(p, r) for p, r in _classified() if r.access == STAFF]
    assert len(routes) >= 15
    return routes


def test_every_staff_url_is_behind_the_one_staff_gate_with_a_documented_permission():
    for pattern, route in _classified():
        perm = getattr(pattern.callback, "staff_permission", None)
        if route.access == STAFF:
            assert perm in STAFF_PERMISSIONS, (pattern.key, perm)
        else:
            assert perm is None, (pattern.key, "has a staff gate but is not classified STAFF")
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "docs" / "operator-guide.md").read_text()
    for perm in STAFF_PERMISSIONS:
        assert f"`{perm}`" in readme and f"`{perm}`" in guide, perm


@pytest.mark.parametrize("holding", ["nothing", "every other staff permission"])
def test_staff_without_the_pages_permission_get_403_on_every_staff_url(
    world, staff_with, tesla_sandbox, holding
):
    routes = _staff_routes()
    clients = {}
    for perm in STAFF_PERMISSIONS:
        others = [p for p in STAFF_PERMISSIONS if p != perm] if holding != "nothing" else []
        clients[perm] = _client(staff_with(*others))
    before_calls = tesla_sandbox.control.requests()
    rows_before = snapshot()
    for pattern, route in routes:
        client = clients[pattern.callback.staff_permission]
        url = url_for(world, pattern, route)
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"replace": "on", "region": "all"})
            assert response.status_code == 403, (method, pattern.key, response.status_code)
            # The portal's page, in its layout, not a bare "403 Forbidden".
            page = response.content.decode()
            assert "Permission needed" in page and "<nav" in page, pattern.key
    assert tesla_sandbox.control.requests() == before_calls
    assert snapshot_diff(rows_before, snapshot()) == []


def test_the_403_page_is_translated(world, staff_with):
    client = _client(staff_with())
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("partner_status")).content.decode()
    assert '<html lang="zh-hans">' in page and "需要权限" in page


def test_anonymous_visitors_of_staff_urls_are_sent_to_the_portal_sign_in(world, tesla_sandbox):
    before_calls = tesla_sandbox.control.requests()
    for pattern, route in _staff_routes():
        url = url_for(world, pattern, route)
        for method in ("get", "post"):
            response = getattr(Client(), method)(url)
            assert response.status_code == 302, (method, pattern.key)
            assert response["Location"].startswith(f"{reverse('account_login')}?next={url}"), (
                method,
                pattern.key,
                response["Location"],
            )
    assert tesla_sandbox.control.requests() == before_calls


def test_staff_with_the_pages_permission_get_past_the_gate(world, staff_with):
    for pattern, route in _staff_routes():
        client = _client(staff_with(pattern.callback.staff_permission))
        url = url_for(world, pattern, route)
        if route.kind == POST:
            # An empty form: refused by the view (400) or redirected, never by the gate.
            response = client.post(url)
            assert response.status_code in {302, 400}, (pattern.key, response.status_code)
        else:
            response = client.get(url)
            # A confirmation with nothing to confirm goes back to its page: past the gate too.
            allowed = {200, 302} if route.kind == CONFIRM else {200}
            assert response.status_code in allowed, (pattern.key, response.status_code)


def test_a_user_holding_a_staff_permission_without_staff_status_gets_403(world, owner):
    owner.user_permissions.add(
        Permission.objects.get(content_type__app_label="partners", codename="manage_partner")
    )
    assert _client(owner).get(reverse("partner_status")).status_code == 403


def test_the_staff_menu_lists_only_the_pages_the_user_may_open(world, staff_with):
    links = {
        "partners.manage_partner": reverse("partner_status"),
        "accounts.view_link_status": reverse("link_status"),
        "vehicles.manage_roster": reverse("vehicles:roster"),
        "telemetry.manage_telemetry": reverse("telemetry:list"),
        "usage.view_usage": reverse("usage:overview"),
    }
    assert set(links) == set(STAFF_PERMISSIONS)
    for perm in links:
        page = _client(staff_with(perm)).get(reverse("dashboard")).content.decode()
        shown = {p for p, u in links.items() if f'href="{u}"' in page}
        assert shown == {perm}, (perm, shown)
    page = _client(world.superuser).get(reverse("dashboard")).content.decode()
    assert all(f'href="{u}"' in page for u in links.values())


# --- 3. State changes need POST and CSRF -------------------------------------------------


def _actor(world: World, route: Route) -> User:
    return world.superuser if route.access in (STAFF, ADMIN) else world.owner


def test_a_get_never_changes_state(world):
    for pattern, route in _classified():
        client = _client(_actor(world, route))
        before = snapshot()
        response = client.get(url_for(world, pattern, route))
        changed = snapshot_diff(before, snapshot())
        assert changed == [], (pattern.key, changed)
        if route.kind == POST:
            assert response.status_code == 405, pattern.key
        else:
            assert response.status_code != 405, pattern.key


def test_a_post_without_csrf_token_is_refused(world):
    from django.middleware.csrf import _get_new_csrf_string

    for pattern, route in _classified():
        assert not getattr(pattern.callback, "csrf_exempt", False), pattern.key
        client = _client(_actor(world, route), enforce_csrf_checks=True)
        # A valid cookie, but no token in the form: exactly what a cross-site form sends.
        client.cookies["csrftoken"] = _get_new_csrf_string()
        before = snapshot()
        response = client.post(url_for(world, pattern, route), {"replace": "on", "region": "NA"})
        assert response.status_code == 403, (pattern.key, response.status_code)
        assert snapshot_diff(before, snapshot()) == [], pattern.key


def test_the_same_post_with_its_csrf_token_gets_past_the_check(world):
    # The control for the test above: the 403 came from the missing token, not from the
    # persona or the URL. (Admin add pages answer 403 by design: links, keys and cars are
    # never typed in, so the admin is left out here.)
    secret = "s" * 32
    for pattern, route in _classified():
        if route.access == ADMIN:
            continue
        client = _client(_actor(world, route), enforce_csrf_checks=True)
        client.cookies["csrftoken"] = secret
        response = client.post(url_for(world, pattern, route), {"csrfmiddlewaretoken": secret})
        assert response.status_code != 403, pattern.key
        assert response.status_code < 500, (pattern.key, response.status_code)


# --- 4. Production cookies and check --deploy --------------------------------------------


def test_production_cookies_are_secure_httponly_and_lax():
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in ("
        "'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', "
        "'CSRF_COOKIE_SECURE', 'LANGUAGE_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'DEBUG')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["LANGUAGE_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["DEBUG"] is False


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- 5. Login is rate-limited per IP ----------------------------------------------------


def test_login_flood_from_one_ip_gets_the_portals_429_page(client, owner):
    url = reverse("account_login")
    statuses = []
    for attempt in range(40):
        response = client.post(
            url, {"login": f"nobody{attempt}@example.com", "password": "wrong-password"},
            REMOTE_ADDR="203.0.113.7",
        )  # fmt: skip
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert len(statuses) <= 31  # allauth's "login" limit: 30 a minute per IP
    page = response.content.decode()
    assert "Too many requests" in page and "<nav" in page  # the portal's page, in its layout
    # Another address is not affected, and the right password still works there.
    fine = client.post(
        url, {"login": owner.email, "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="198.51.100.9",
    )  # fmt: skip
    assert fine.status_code == 302
