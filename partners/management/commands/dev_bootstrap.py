"""Development only: once the sandbox and the portal answer, give the portal a key and
register it in every sandbox region, so a newcomer can link an account at once."""

from __future__ import annotations

import time
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleetportal.tesla import http_session
from partners import selectors, services
from partners.models import PartnerRegistration


class Command(BaseCommand):
    help = "Sandbox only: create the app key if missing and register every region not yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", type=float, default=60, help="seconds to wait for both")

    def handle(self, *args: Any, wait: float, **options: Any) -> None:
        if settings.TESLA_ENV != "sandbox":
            raise CommandError("dev_bootstrap only talks to the sandbox (TESLA_ENV=sandbox).")
        key_url = settings.PORTAL_PUBLIC_URL.rstrip("/") + "/healthz"
        sandbox_url = settings.TESLA_SANDBOX_URL.rstrip("/") + "/fleet/na/status"
        self._wait_for([key_url, sandbox_url], wait)
        actor = services.command_actor("dev_bootstrap")
        if selectors.partner_key() is None:
            key = services.partner_key_generate(actor=actor)
            self.stdout.write(f"dev_bootstrap: created the app key ({key.fingerprint})")
        registered = {
            row.region
            for row in PartnerRegistration.objects.filter(
                state=PartnerRegistration.State.REGISTERED, domain=selectors.partner_domain()
            )
        }
        for region in selectors.region_codes():
            if region in registered:
                continue
            try:
                row = services.partner_register(region=region, actor=actor)
            except services.PartnerSetupError as exc:
                self.stdout.write(f"dev_bootstrap: {region} refused: {exc}")
                continue
            self.stdout.write(f"dev_bootstrap: {region} {row.state}")

    def _wait_for(self, urls: list[str], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        pending = list(urls)
        while pending:
            url = pending[0]
            try:
                http_session().get(url, timeout=2)
                pending.pop(0)
                continue
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"dev_bootstrap: {url} did not answer in {seconds:.0f} s")
            time.sleep(0.5)
