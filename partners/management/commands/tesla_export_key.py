from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from partners import services
from partners.selectors import PartnerKeyMissing


class Command(BaseCommand):
    help = (
        "Export the application's private key (PEM) for a backup: to standard output, or with "
        "--out to a new file created 0600 (an existing file is never overwritten). Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default="", help="a new file to write the PEM to")

    def handle(self, *args: Any, out: str = "", **options: Any) -> None:
        try:
            pem = services.partner_key_export(
                actor=services.command_actor("tesla_export_key"), path=out
            )
        except (services.PartnerSetupError, services.KeyRejected, PartnerKeyMissing) as exc:
            raise CommandError(str(exc)) from exc
        if out:
            # stderr: stdout stays empty, as when the PEM itself goes there.
            self.stderr.write(f"Wrote the private key to {out} (mode 0600).")
        else:
            self.stdout.write(pem, ending="")
