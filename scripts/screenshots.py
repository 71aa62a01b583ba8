"""Take the screenshots of docs/operator-guide.md from a throwaway portal and the sandbox.

    make screenshots                      # all of them, into docs/screenshots/
    .venv/bin/python scripts/screenshots.py [--out DIR] [--only dashboard,vehicle-390]

Self-contained, like the browser tests: it never touches `var/`, `.env` or a running
`make run`. In a temporary folder it starts the Tesla sandbox (in this process), a portal
(`manage.py runserver` on a free port, fresh SQLite database, filesystem broker), signs a
user in with Debian's Chromium (Playwright), links the sandbox accounts alice@example.com
(global) and wei@example.cn (China) through the real consent pages, syncs their cars, then
captures:

  dashboard.png         the dashboard with both linked accounts
  vehicle.png           a vehicle's page (decoded VIN, key pairing, firmware)
  partner.png           the staff page /staff/partner/ (key, pre-flight, registration)
  telemetry-builder.png the telemetry builder /telemetry/new/ (skipped if it does not exist)
  dashboard-390.png     the dashboard on a 390 px wide phone (accounts as stacked rows)
  vehicle-390.png       a car without the portal's key on a phone: the pairing box

`--only` retakes just the named ones (without .png), e.g. after a page changed; the set-up
is the same (about half a minute).

Needs `apt-get install chromium`; CHROMIUM_PATH overrides /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "screenshots-only-password-1"  # noqa: S105 - a throwaway local account
OWNER = "owner@example.com"
STAFF = "staff@example.com"
PAIRED_VIN = "5YJ3E1EA7PF000001"
UNPAIRED_VIN = "7SAYGDEE9RF000002"  # alice's Model Y: the vehicle page offers pairing
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = (
    "dashboard",
    "vehicle",
    "partner",
    "telemetry-builder",
    "dashboard-390",
    "vehicle-390",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def portal_env(tmp: Path, portal_url: str, sandbox, apps: dict) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "DJANGO_SETTINGS_MODULE": "fleetportal.settings.development",
        "DJANGO_READ_DOT_ENV": "False",
        "DEBUG": "True",
        "SECRET_KEY": "screenshots-only-" + "x" * 40,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(tmp / "broker"),
        "CACHE_URL": "locmemcache://",
        "TESLA_ENV": "sandbox",
        "TESLA_SANDBOX_URL": sandbox.url,
        "TESLA_CLIENT_ID": apps["global"]["client_id"],
        "TESLA_CLIENT_SECRET": apps["global"]["client_secret"],
        "TESLA_CN_CLIENT_ID": apps["cn"]["client_id"],
        "TESLA_CN_CLIENT_SECRET": apps["cn"]["client_secret"],
        "PORTAL_PUBLIC_URL": portal_url,
        "TESLA_ALLOWED_ORIGINS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def prepare_database() -> None:
    """Migrate and create the two users (email verified, as after sign-up)."""
    import django
    from django.core.management import call_command

    django.setup()
    from allauth.account.models import EmailAddress

    from accounts.models import User

    call_command("migrate", verbosity=0, interactive=False)
    for email, superuser in ((OWNER, False), (STAFF, True)):
        make = User.objects.create_superuser if superuser else User.objects.create_user
        user = make(email=email, password=PASSWORD)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)


def register_partner() -> None:
    """What an operator does on /staff/partner/: a key, then every region registered."""
    from partners import services

    services.partner_key_generate()
    for outcome in services.partner_register_all():
        state = outcome.registration.state if outcome.registration else outcome.refused
        print(f"  {outcome.region}: {state}")


def sync_vehicles() -> None:
    from accounts.models import TeslaLink
    from vehicles import services

    for link in TeslaLink.objects.all():
        result = services.vehicles_sync(link_id=link.pk)
        print(f"  {link.email}: {result.status}, {result.seen} vehicles")


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def link_accounts(page) -> None:
    for button, tesla_user in (
        ("Link Tesla account (Global)", "alice@example.com"),
        ("Link Tesla account (China)", "wei@example.cn"),
    ):
        page.get_by_role("button", name=button).click()
        page.wait_for_url(re.compile(r"/oauth2/v3/authorize"))
        page.check(f"input[name=user][value='{tesla_user}']")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(re.compile(r"/dashboard/$"))


def shoot(page, url: str, path: Path, wanted: set[str]) -> None:
    if path.stem not in wanted:
        return
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=True)
    print(f"  wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument(
        "--only", default=",".join(SHOTS), help=f"comma-separated, of: {', '.join(SHOTS)}"
    )
    args = parser.parse_args()
    out = Path(args.out).resolve()
    wanted = {name.strip().removesuffix(".png") for name in args.only.split(",") if name.strip()}
    if wanted - set(SHOTS):
        parser.error(f"--only: unknown {', '.join(sorted(wanted - set(SHOTS)))}; one of {SHOTS}")
    if not Path(CHROMIUM).exists():
        print(f"No Chromium at {CHROMIUM} (apt-get install chromium).", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    from sandbox.testing import running_sandbox

    tmp = Path(tempfile.mkdtemp(prefix="fleetportal-screenshots-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_sandbox() as sandbox:
        apps = {
            server: sandbox.control.register_client(
                server=server,
                redirect_uris=[f"{base}/accounts/{provider}/login/callback/"],
                allowed_origins=["127.0.0.1", "localhost"],
                name="Fleet Portal screenshots",
            )
            for server, provider in (("global", "tesla"), ("cn", "tesla_cn"))
        }
        env = portal_env(tmp, base, sandbox, apps)
        os.environ.update(env)
        prepare_database()
        server = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"{base}/healthz")
            print("Registering the portal with the sandbox:")
            register_partner()
            # One car already carries the portal's key, as after pairing in the Tesla app.
            from partners import selectors

            sandbox.control.pair(PAIRED_VIN, selectors.partner_domain())
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls beside Playwright
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(locale="en-US", viewport=DESKTOP)
                page = context.new_page()
                page.set_default_timeout(20_000)
                print("Linking alice@example.com and wei@example.cn in the browser:")
                sign_in(page, base, OWNER)
                link_accounts(page)
                sync_vehicles()
                shoot(page, f"{base}/dashboard/", out / "dashboard.png", wanted)
                from vehicles.models import Vehicle

                car = Vehicle.objects.get(vin=PAIRED_VIN)
                shoot(page, f"{base}/vehicles/{car.pk}/", out / "vehicle.png", wanted)
                page.set_viewport_size(PHONE)
                shoot(page, f"{base}/dashboard/", out / "dashboard-390.png", wanted)
                car = Vehicle.objects.get(vin=UNPAIRED_VIN)
                shoot(page, f"{base}/vehicles/{car.pk}/", out / "vehicle-390.png", wanted)

                staff = browser.new_context(locale="en-US", viewport=DESKTOP).new_page()
                staff.set_default_timeout(20_000)
                sign_in(staff, base, STAFF)
                shoot(staff, f"{base}/staff/partner/", out / "partner.png", wanted)
                builder = f"{base}/telemetry/new/"
                if staff.request.get(builder).status == 200:
                    shoot(staff, builder, out / "telemetry-builder.png", wanted)
                else:
                    print("  skipped telemetry-builder.png: /telemetry/new/ is not there yet")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
