"""The key ring that keeps tokens and private keys encrypted at rest (fleetportal/crypto.py):
a value no key of the ring opens is an error that names neither the value nor its plaintext,
and an empty ring stores nothing (issue 20)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from accounts.models import TeslaLink
from fleetportal import crypto

SECRET = "NA_refresh-token-that-must-never-be-shown"


def test_a_value_sealed_under_a_removed_key_raises_without_showing_it(settings):
    removed = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [removed]
    sealed = crypto.encrypt(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured) as caught:
        crypto.decrypt(sealed)
    message = str(caught.value)
    assert "cannot be decrypted" in message
    assert sealed not in message and sealed[:20] not in message
    assert SECRET not in message


@pytest.mark.parametrize("garbage", ["not a fernet token", "gAAAAA" + "x" * 80])
def test_garbage_in_the_column_raises_without_showing_it(garbage):
    with pytest.raises(ImproperlyConfigured) as caught:
        crypto.decrypt(garbage)
    assert garbage not in str(caught.value)


def test_any_key_of_the_ring_opens_and_the_first_seals(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    sealed_old = crypto.encrypt(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    sealed_new = crypto.encrypt(SECRET)
    assert crypto.decrypt(sealed_old) == crypto.decrypt(sealed_new) == SECRET
    assert Fernet(new.encode()).decrypt(sealed_new.encode()).decode() == SECRET
    assert sealed_old != SECRET and SECRET not in sealed_new


def test_an_empty_ring_refuses_to_seal_or_open(settings):
    sealed = crypto.encrypt(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = []
    for attempt in (lambda: crypto.encrypt(SECRET), lambda: crypto.decrypt(sealed)):
        with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is empty"):
            attempt()


@pytest.mark.django_db
def test_a_token_column_that_no_key_opens_fails_loudly_on_read(owner, settings):
    from django.utils import timezone

    link = TeslaLink.objects.create(
        user=owner,
        auth_server="global",
        subject="s",
        region="NA",
        fleet_api_base_url="https://fleet-api.prd.na.vn.cloud.tesla.com",
        access_token="a",
        refresh_token=SECRET,
        access_token_expires_at=timezone.now(),
        refresh_token_issued_at=timezone.now(),
    )
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured) as caught:
        TeslaLink.objects.get(pk=link.pk)
    assert SECRET not in str(caught.value)


def test_rotate_moves_a_value_to_the_newest_key_and_keeps_it(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    sealed = crypto.encrypt(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    rotated = crypto.rotate(sealed)
    assert rotated != sealed and SECRET not in rotated
    # Only the newest key is needed now: the old one can leave the ring.
    assert Fernet(new.encode()).decrypt(rotated.encode()).decode() == SECRET
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == SECRET


def test_the_field_leaves_empty_and_null_columns_as_they_are_and_seals_the_rest():
    """An empty or NULL column (a link without a refresh token, a key kept in a file) is
    stored and read back as it is: no ciphertext of "" and no attempt to open one."""
    field = crypto.EncryptedTextField()
    assert field.get_prep_value(None) is None
    assert field.get_prep_value("") == ""
    sealed = field.get_prep_value(SECRET)
    assert sealed != SECRET and crypto.decrypt(sealed) == SECRET
    assert field.from_db_value(None, None, None) is None
    assert field.from_db_value("", None, None) == ""
    assert field.from_db_value(sealed, None, None) == SECRET
