"""The private key's backup (export) and its move from the database to a file (#19 item 9)."""

from __future__ import annotations

import stat

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from partners import keys, selectors, services
from partners.models import PartnerAuditEntry, PartnerKey, PartnerRegistration
from partners.tests import factories

pytestmark = pytest.mark.django_db

Action = PartnerAuditEntry.Action


def _raw_private_column() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM partners_partnerkey")
        return cursor.fetchone()[0]


def _same_key(pem: str | bytes, key: PartnerKey) -> bool:
    return keys.public_hex(keys.key_parse_private(pem).public_key()) == key.public_key_hex


def test_export_prints_the_pem_and_is_audited(capsys):
    key = services.partner_key_generate()
    call_command("tesla_export_key")
    out = capsys.readouterr().out
    assert out.startswith("-----BEGIN EC PRIVATE KEY-----") and _same_key(out, key)
    entry = PartnerAuditEntry.objects.filter(action=Action.KEY_EXPORTED).get()
    assert (entry.outcome, entry.fingerprint) == ("succeeded", key.fingerprint)
    assert entry.detail == "to standard output"
    assert entry.actor_label.startswith("command line: manage.py tesla_export_key")
    assert "PRIVATE" not in entry.detail


def test_export_to_a_file_creates_it_0600_and_never_overwrites(tmp_path, capsys):
    key = services.partner_key_generate()
    target = tmp_path / "backup.pem"
    call_command("tesla_export_key", "--out", str(target))
    assert capsys.readouterr().out == ""  # the key went to the file only
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _same_key(target.read_bytes(), key)
    target.write_text("an older backup")
    with pytest.raises(CommandError, match="already exists: it is not overwritten"):
        call_command("tesla_export_key", "--out", str(target))
    assert target.read_text() == "an older backup"
    outcomes = PartnerAuditEntry.objects.filter(action=Action.KEY_EXPORTED).order_by("pk")
    assert [e.outcome for e in outcomes] == ["succeeded", "refused"]


def test_export_of_a_key_kept_in_a_file_reads_that_file(settings, tmp_path, capsys):
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    key = services.partner_key_generate()
    call_command("tesla_export_key")
    assert _same_key(capsys.readouterr().out, key)


def test_export_without_a_key_is_refused():
    with pytest.raises(CommandError, match="No application key exists yet"):
        call_command("tesla_export_key")


def test_moving_the_key_to_a_file_keeps_the_same_key_and_clears_the_database(
    settings, tmp_path, capsys
):
    key = services.partner_key_generate()  # held in the database
    PartnerRegistration.objects.create(
        region="NA", domain="portal.example.com", state="registered",
        tesla_public_key_hex=key.public_key_hex,
    )  # fmt: skip
    path = tmp_path / "tesla-private.pem"
    settings.TESLA_PRIVATE_KEY_FILE = str(path)
    call_command("tesla_key_to_file")
    assert key.fingerprint in capsys.readouterr().out
    moved = PartnerKey.objects.get()
    assert (moved.fingerprint, moved.public_key_hex) == (key.fingerprint, key.public_key_hex)
    assert moved.private_key_file == str(path) and moved.rotated_at is None
    assert _raw_private_column() == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and _same_key(path.read_bytes(), key)
    assert keys.public_hex(selectors.partner_private_key().public_key()) == key.public_key_hex
    # Not a replacement: the registration stays valid.
    assert PartnerRegistration.objects.get().state == "registered"
    entry = PartnerAuditEntry.objects.filter(action=Action.KEY_TO_FILE).get()
    assert (entry.outcome, entry.fingerprint, entry.detail) == (
        "succeeded", key.fingerprint, f"to file {path}",
    )  # fmt: skip


def test_moving_uses_a_file_that_already_holds_the_same_key(settings, tmp_path):
    key = services.partner_key_generate()
    path = tmp_path / "key.pem"
    path.write_text(services.partner_key_export())  # copied to the host beforehand
    settings.TESLA_PRIVATE_KEY_FILE = str(path)
    services.partner_key_to_file()
    assert PartnerKey.objects.get().private_key_file == str(path)
    assert _same_key(path.read_bytes(), key)


def test_moving_refuses_a_file_holding_another_key_and_changes_nothing(settings, tmp_path):
    services.partner_key_generate()
    path = tmp_path / "key.pem"
    other = factories.p256_sec1()[0]
    path.write_bytes(other)
    settings.TESLA_PRIVATE_KEY_FILE = str(path)
    with pytest.raises(CommandError, match="already holds another key"):
        call_command("tesla_key_to_file")
    assert path.read_bytes() == other
    assert _raw_private_column() != "" and PartnerKey.objects.get().private_key_file == ""
    entry = PartnerAuditEntry.objects.filter(action=Action.KEY_TO_FILE).get()
    assert entry.outcome == "refused"


def test_moving_refuses_without_a_setting_a_served_folder_or_a_key_already_in_a_file(
    settings, tmp_path
):
    services.partner_key_generate()
    settings.TESLA_PRIVATE_KEY_FILE = ""
    with pytest.raises(CommandError, match="Set TESLA_PRIVATE_KEY_FILE"):
        call_command("tesla_key_to_file")
    settings.STATICFILES_DIRS = [str(tmp_path / "static")]
    (tmp_path / "static").mkdir()
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "static" / "key.pem")
    with pytest.raises(CommandError, match="must be outside the project folder"):
        call_command("tesla_key_to_file")
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    call_command("tesla_key_to_file")
    with pytest.raises(CommandError, match="not held in the database"):
        call_command("tesla_key_to_file")


def test_preflight_says_the_key_file_is_readable_on_this_host(settings, tmp_path):
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    services.partner_key_generate()
    check = services.partner_preflight()[0]
    assert check.ok is True and "is readable on host" in check.message
    (tmp_path / "key.pem").unlink()  # a worker host the file was never copied to
    check = services.partner_preflight()[0]
    assert check.ok is False and "cannot be read" in check.message and "on host" in check.message


def test_preflight_command_exits_1_on_a_host_without_the_key_file(settings, tmp_path, capsys):
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    services.partner_key_generate()
    (tmp_path / "key.pem").unlink()
    with pytest.raises(CommandError, match="failed on this host"):
        call_command("tesla_preflight")
    assert "[FAIL] Application key is EC P-256" in capsys.readouterr().out
