from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from partners import services


class Command(BaseCommand):
    help = "Import an existing EC P-256 private key (SEC1 or PKCS#8 PEM) as the application key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="PEM file with the private key")
        parser.add_argument(
            "--force", action="store_true", help="Replace an existing application key."
        )

    def handle(self, *args: Any, path: str, force: bool = False, **options: Any) -> None:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        try:
            key = services.partner_key_import(
                pem=pem, force=force, actor=services.command_actor("tesla_import_key")
            )
        except services.PartnerKeyExists as exc:
            raise CommandError(f"{exc} Use --force to replace it.") from exc
        except (services.PartnerSetupError, services.KeyRejected) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Imported P-256 key, fingerprint {key.fingerprint}"))
