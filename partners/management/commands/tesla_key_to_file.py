from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partners import services


class Command(BaseCommand):
    help = (
        "Move the private key held (encrypted) in the database to TESLA_PRIVATE_KEY_FILE: the "
        "same key, so registrations and paired cars stay valid; the database copy is cleared."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = services.partner_key_to_file(actor=services.command_actor("tesla_key_to_file"))
        except (services.PartnerSetupError, services.KeyRejected) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"The key (fingerprint {key.fingerprint}) is now read from "
                f"{settings.TESLA_PRIVATE_KEY_FILE}; copy that file (0600, owned by the portal's "
                "user) to every worker host before restarting them."
            )
        )
