"""Fixtures every app's tests share: the three personas and a real Celery worker."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from accounts.tests.factories import UserFactory

PASSWORD = "correct-horse-battery-staple"


def pytest_configure(config):
    """A test session in a fork of a process that already read the test settings (mutmut's
    workers run pytest in forks of one process) gets its own SQLite file and broker folder:
    parallel forks would otherwise create, empty and delete each other's database and take
    each other's tasks."""
    import tempfile

    from django.conf import settings

    if getattr(settings, "TEST_FOLDERS_PID", os.getpid()) == os.getpid():
        return
    settings.TEST_FOLDERS_PID = os.getpid()
    test_db = settings.DATABASES["default"].get("TEST", {})
    if test_db.get("NAME"):
        # In place: the connection holds this same dict.
        folder = Path(tempfile.mkdtemp(prefix="fleetportal-test-db-"))
        test_db["NAME"] = str(folder / "test.sqlite3")
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        from fleetportal.settings.base import filesystem_broker_options

        folder = Path(tempfile.mkdtemp(prefix="fleetportal-test-broker-"))
        # In place: the Celery app's configuration holds this same dict.
        settings.CELERY_BROKER_TRANSPORT_OPTIONS.update(filesystem_broker_options(folder))
    from fleetportal.celery import app

    # Celery resets its connection pools only in multiprocessing's forks, not os.fork()'s.
    app._after_fork()


@pytest.fixture
def owner(db):
    """A verified user who owns things."""
    return UserFactory(email="owner@example.com", password=PASSWORD)


@pytest.fixture
def other_user(db):
    """A verified user who must never see the owner's things."""
    return UserFactory(email="other@example.com", password=PASSWORD)


@pytest.fixture
def staff(db):
    """A verified staff user (admin and staff pages)."""
    return UserFactory(email="staff@example.com", password=PASSWORD, is_staff=True)


@pytest.fixture
def staff_with(db):
    """Makes staff users holding exactly the given permissions ("app_label.codename"), as an
    operator grants them in admin (fleetportal/permissions.py lists the staff permissions)."""
    from django.contrib.auth.models import Permission

    made = []

    def make(*perms: str, email: str = "") -> object:
        user = UserFactory(
            email=email or f"staff{len(made) + 1}@example.com", password=PASSWORD, is_staff=True
        )
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        made.append(user)
        return user

    return make


@pytest.fixture
def partner_manager(staff_with):
    """Staff holding partners.manage_partner: the key, registration and pairing links."""
    return staff_with("partners.manage_partner", email="partners@example.com")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker consuming from the configured broker (filesystem or Redis)."""
    from celery.contrib.testing.worker import start_worker
    from django.db import connections

    from fleetportal.celery import app

    # No result backend is configured, so the built-in ping check cannot run.
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker
    # Celery's Django fix-up closes connections underneath Django when the worker stops; drop
    # them so the next test opens fresh ones.
    connections.close_all()


@pytest.fixture
def worker_and_beat_up(monkeypatch, db):
    """/healthz's worker and beat parts answer "ok" without running either (a test about
    another part of the probe); fleetportal/tests/test_healthz.py runs the real ones."""
    from django.utils import timezone

    from fleetportal import health
    from fleetportal.models import Heartbeat

    monkeypatch.setattr(health, "_ping_workers", lambda: 1)
    Heartbeat.objects.update_or_create(name=health.BEAT, defaults={"at": timezone.now()})


@pytest.fixture(autouse=True)
def _fresh_cache():
    """allauth's rate limits live in the cache: each test starts with none spent."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_usage_counts():
    """Fleet API requests counted in this process (usage/recorder.py) belong to their test: none
    is flushed into the next test's database, nor at exit into the development database."""
    from usage import recorder

    recorder.discard()
    yield
    recorder.discard()


@pytest.fixture(autouse=True)
def _default_language():
    """A test that renders Chinese must not leave the next one speaking it (translation
    activation is per thread and outlives a request in the test client)."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


# --- Browser tests: Playwright driving Debian's Chromium -------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "test-artifacts"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Without these Chromium keeps reaching for Google's hosts, which this network
            # refuses.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh browser context; a screenshot is kept under test-artifacts/ when the test fails."""
    context = chromium.new_context(locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    # Chromium reports what the Content-Security-Policy blocked on the console: a page whose
    # script or style was refused does not work as the test may still believe.
    refused: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert refused == [], refused


# --- The Tesla sandbox, over real HTTP -------------------------------------------------------


@pytest.fixture(scope="session")
def _tesla_sandbox_server():
    from sandbox.testing import running_sandbox

    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def tesla_sandbox(_tesla_sandbox_server):
    """A sandbox with a freshly seeded world (one server per session, reset per test)."""
    _tesla_sandbox_server.control.reset()
    return _tesla_sandbox_server


EXTERNAL_CALLBACK = "https://callback.example.org/tesla"


@pytest.fixture(scope="session")
def _partner_key_server():
    from sandbox.tests.helpers import KeyServer

    with KeyServer.running() as server:
        yield server


@pytest.fixture
def configure_tesla(settings, tesla_sandbox, _partner_key_server):
    """Point the portal at the sandbox with a client per server whose callbacks live under
    `portal_url`, registered as partner in every region (Tesla answers 412 to a user call in a
    region where the app is not registered)."""

    from fleetportal import tesla
    from sandbox.testing import register_partner

    def configure(portal_url: str = "http://testserver") -> dict[str, dict[str, str]]:
        apps = {}
        settings.TESLA_ENV = "sandbox"
        settings.TESLA_SANDBOX_URL = tesla_sandbox.url
        for server, provider in tesla.AUTH_SERVER_PROVIDER.items():
            apps[server] = tesla_sandbox.control.register_client(
                server=server,
                redirect_uris=[
                    f"{portal_url}/accounts/{provider}/login/callback/",
                    EXTERNAL_CALLBACK,
                ],
                allowed_origins=[urlsplit(portal_url).hostname, "127.0.0.1"],
                name=f"portal tests ({server})",
            )
            register_partner(tesla_sandbox.url, server, apps[server], _partner_key_server.domain)
        settings.TESLA_CLIENT_ID = apps["global"]["client_id"]
        settings.TESLA_CLIENT_SECRET = apps["global"]["client_secret"]
        settings.TESLA_CN_CLIENT_ID = apps["cn"]["client_id"]
        settings.TESLA_CN_CLIENT_SECRET = apps["cn"]["client_secret"]
        settings.TESLA_REDIRECT_URI = ""
        settings.TESLA_CN_REDIRECT_URI = ""
        tesla_sandbox.control.clear_requests()
        return apps

    return configure


@pytest.fixture
def tesla_apps(configure_tesla):
    """The portal (as Django's test client sees it) configured against the sandbox."""
    return configure_tesla()
