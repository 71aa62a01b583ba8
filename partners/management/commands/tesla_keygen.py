from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from partners import services


class Command(BaseCommand):
    help = "Create the application's EC P-256 key pair (refuses to replace one without --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace the existing key: every region must then be registered again.",
        )

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        try:
            key = services.partner_key_generate(
                force=force, actor=services.command_actor("tesla_keygen")
            )
        except services.PartnerKeyExists as exc:
            raise CommandError(f"{exc} Use --force to replace it.") from exc
        except services.PartnerSetupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Created P-256 key, fingerprint {key.fingerprint}"))
        self.stdout.write(key.public_key_pem)
