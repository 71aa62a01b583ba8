"""Re-encrypt every stored secret under the newest FIELD_ENCRYPTION_KEYS key."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from fleetportal.crypto import encrypted_fields, rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every token and key under the first key of FIELD_ENCRYPTION_KEYS. Put the "
        "new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args: object, **options: object) -> None:
        total = 0
        for model, field in encrypted_fields():
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(field.column)
            pk = connection.ops.quote_name(model._meta.pk.column)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL "  # noqa: S608
                    f"AND {column} <> ''"
                )
                rows = cursor.fetchall()
            changed = 0
            for row_pk, ciphertext in rows:
                with transaction.atomic(), connection.cursor() as cursor:
                    # Conditional on the old ciphertext: a token refreshed meanwhile (new value
                    # already under the newest key) is left alone rather than overwritten.
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s "  # noqa: S608
                        f"WHERE {pk} = %s AND {column} = %s",
                        [rotate(ciphertext), row_pk, ciphertext],
                    )
                    changed += cursor.rowcount
            total += changed
            self.stdout.write(f"{model._meta.label}.{field.name}: {changed} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"{total} values re-encrypted under the newest key"))
