"""Encryption at rest for tokens and private keys: a MultiFernet key ring.

The ring comes from FIELD_ENCRYPTION_KEYS (newest key first), never from SECRET_KEY, so a
leaked SECRET_KEY does not open the tokens and the two can be rotated independently.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: tokens cannot be stored. `make run` writes one "
            "into .env; in production set it (see .env.example)."
        )
    return MultiFernet([Fernet(key) for key in keys])


def key_ring() -> MultiFernet:
    """The current ring; encrypts with the first key, decrypts with any."""
    return _ring(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return key_ring().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return key_ring().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        # Never include the value: it is a secret, or garbage that may contain one.
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: a key that was in "
            "use was removed from the ring."
        ) from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the newest key (MultiFernet.rotate keeps the original timestamp)."""
    return key_ring().rotate(ciphertext.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column stored as Fernet ciphertext; Python code sees plaintext.

    Not searchable or comparable in SQL (each encryption is randomised), which is the point:
    no query ever needs a token's value.
    """

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: object) -> object:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) pair in the project that stores ciphertext."""
    from django.apps import apps

    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
