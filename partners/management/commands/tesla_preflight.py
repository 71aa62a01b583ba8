from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from partners import services

MARK = {True: "ok", False: "FAIL", None: "?"}


class Command(BaseCommand):
    help = (
        "The partner pre-flight on this host (the staff page's checks): run it on every host "
        "that signs (workers), since each reads the private key from its own disk. Exits 1 "
        "when a check fails."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        checks = services.partner_preflight()
        for check in checks:
            line = f"[{MARK[check.ok]}] {check.check}: {check.message}"
            style = self.style.ERROR if check.ok is False else self.style.SUCCESS
            self.stdout.write(style(line) if check.ok is not None else line)
        failed = sum(1 for check in checks if check.ok is False)
        if failed:
            raise CommandError(f"{failed} pre-flight check(s) failed on this host")
