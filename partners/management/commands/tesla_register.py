from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from partners import selectors, services
from partners.advice import advice_for
from partners.models import PartnerRegistration


class Command(BaseCommand):
    help = (
        "Register the portal's domain and key with Tesla (partner_accounts) and read back the "
        "key Tesla holds, per region. Exits 1 unless every region ends registered (a region whose "
        "key read-back Tesla refuses after registering is a warning)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--region",
            choices=selectors.region_codes(),
            type=str.upper,
            help="Only this region (default: all)",
        )

    def handle(self, *args: Any, region: str | None = None, **options: Any) -> None:
        actor = services.command_actor("tesla_register")
        if region:
            try:
                outcomes = [
                    services.RegisterOutcome(
                        region, services.partner_register(region=region, actor=actor)
                    )
                ]
            except services.PartnerSetupError as exc:
                outcomes = [services.RegisterOutcome(region, None, refused=str(exc))]
        else:
            outcomes = services.partner_register_all(actor=actor)
        self.stdout.write(f"Domain: {selectors.partner_domain()}")
        failed = 0
        for outcome in outcomes:
            row = outcome.registration
            if row is None:
                failed += 1
                self.stdout.write(self.style.ERROR(f"{outcome.region}: refused: {outcome.refused}"))
                continue
            line = f"{outcome.region}: {row.state}"
            if row.problem == PartnerRegistration.Problem.READBACK_REFUSED:
                # Registered: a warning, not a failure (exit 0).
                self.stdout.write(self.style.WARNING(f"{line}, key read-back refused"))
                self.stdout.write(f"  Tesla: {row.tesla_message}")
                self.stdout.write(f"  Note: {advice_for(row)}")
                continue
            if row.state == PartnerRegistration.State.REGISTERED:
                self.stdout.write(self.style.SUCCESS(line))
                continue
            failed += 1
            self.stdout.write(self.style.ERROR(line))
            if row.tesla_message:
                self.stdout.write(f"  Tesla: {row.tesla_message}")
            self.stdout.write(f"  To do: {advice_for(row)}")
        if failed:
            raise CommandError(f"{failed} region(s) not registered")
