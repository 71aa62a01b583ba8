"""The application key: generate, import, refuse what Tesla would refuse, store it safely."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from fleetportal.settings.env import BASE_DIR
from partners import keys, selectors, services
from partners.advice import advice_for
from partners.models import PartnerKey, PartnerRegistration
from partners.tests import factories

pytestmark = pytest.mark.django_db


def _raw_private_column() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM partners_partnerkey")
        return cursor.fetchone()[0]


def test_keygen_creates_a_p256_pair_with_the_private_half_encrypted():
    key = services.partner_key_generate()
    private = selectors.partner_private_key()
    assert private.curve.name == "secp256r1"
    assert key.public_key_hex == keys.public_hex(private.public_key())
    assert key.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert len(key.public_key_hex) == 130 and key.public_key_hex.startswith("04")
    assert key.rotated_at is None and key.private_key_file == ""
    raw = _raw_private_column()
    assert "PRIVATE KEY" not in raw and raw.startswith("gAAAAA")  # Fernet ciphertext


def test_keygen_refuses_to_replace_a_key_without_force():
    first = services.partner_key_generate()
    with pytest.raises(services.PartnerKeyExists, match="already exists"):
        services.partner_key_generate()
    assert PartnerKey.objects.get().public_key_hex == first.public_key_hex


def test_keygen_with_force_replaces_the_key_and_flags_registrations_as_mismatched():
    first = services.partner_key_generate()
    PartnerRegistration.objects.create(
        region="NA",
        domain="portal.example.com",
        state="registered",
        tesla_public_key_hex=first.public_key_hex,
    )
    second = services.partner_key_generate(force=True)
    assert second.public_key_hex != first.public_key_hex
    assert second.rotated_at is not None and second.created_at == first.created_at
    registration = PartnerRegistration.objects.get()
    assert registration.state == "key_mismatch"
    assert registration.problem == PartnerRegistration.Problem.KEY_CHANGED
    assert "register NA again" in advice_for(registration)


@pytest.mark.parametrize("make", [factories.p256_sec1, factories.p256_pkcs8], ids=["sec1", "pkcs8"])
def test_import_accepts_sec1_and_pkcs8_p256_keys(make):
    pem, original = make()
    key = services.partner_key_import(pem=pem)
    assert key.public_key_hex == keys.public_hex(original.public_key())
    assert selectors.partner_private_key().private_numbers() == original.private_numbers()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
def test_import_accepts_the_key_exactly_as_teslas_openssl_recipe_writes_it(tmp_path):
    path = tmp_path / "private-key.pem"
    # §3.1; without -noout openssl also writes an EC PARAMETERS block first.
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-out", str(path)], check=True
    )
    call_command("tesla_import_key", str(path))
    assert PartnerKey.objects.count() == 1
    with pytest.raises(CommandError, match="Use --force"):
        call_command("tesla_import_key", str(path))
    call_command("tesla_import_key", str(path), "--force")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (factories.rsa_2048, "This is an RSA key"),
        (factories.p384, "on the secp384r1 curve"),
        (factories.ed25519_key, "Tesla only accepts EC keys on the P-256 curve"),
        (factories.malformed, "damaged or incomplete"),
        (factories.p256_public, "This is a public key"),
        (factories.p256_encrypted, "protected by a passphrase"),
        (lambda: b"hello, not a key", "not a PEM file"),
    ],
    ids=["rsa", "p384", "ed25519", "malformed", "public-key", "encrypted", "not-pem"],
)
def test_import_refuses_keys_tesla_cannot_use_and_saves_nothing(make, message):
    with pytest.raises(services.KeyRejected, match=message):
        services.partner_key_import(pem=make())
    assert not PartnerKey.objects.exists()


def test_a_refused_import_leaves_the_existing_key_alone():
    existing = services.partner_key_generate()
    with pytest.raises(services.KeyRejected):
        services.partner_key_import(pem=factories.rsa_2048(), force=True)
    assert PartnerKey.objects.get().public_key_hex == existing.public_key_hex


def test_private_key_goes_to_a_0600_file_when_configured(settings, tmp_path):
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "tesla-private.pem")
    key = services.partner_key_generate()
    path = tmp_path / "tesla-private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    assert _raw_private_column() == "" and key.private_key_file == str(path)
    assert keys.public_hex(selectors.partner_private_key().public_key()) == key.public_key_hex
    assert [p.name for p in tmp_path.iterdir()] == ["tesla-private.pem"]  # no temp file left


def test_a_key_file_swapped_behind_the_portals_back_is_refused(settings, tmp_path):
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    services.partner_key_generate()
    (tmp_path / "key.pem").write_bytes(factories.p256_sec1()[0])
    with pytest.raises(selectors.PartnerKeyMissing, match="no longer matches"):
        selectors.partner_private_key()


def test_a_relative_or_missing_key_folder_is_refused_before_anything_is_saved(settings, tmp_path):
    settings.TESLA_PRIVATE_KEY_FILE = "relative/key.pem"
    with pytest.raises(services.PartnerSetupError, match="absolute path"):
        services.partner_key_generate()
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "missing" / "key.pem")
    with pytest.raises(services.PartnerSetupError, match="does not exist"):
        services.partner_key_generate()
    assert not PartnerKey.objects.exists()


def test_a_key_file_inside_static_root_is_refused(settings, tmp_path):
    settings.STATIC_ROOT = str(tmp_path)
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    with pytest.raises(services.PartnerSetupError, match="outside the project folder"):
        services.partner_key_generate()
    assert not (tmp_path / "key.pem").exists()


@pytest.fixture
def key_target(settings, tmp_path):
    """Point TESLA_PRIVATE_KEY_FILE at a real folder; whatever lands there is removed after."""
    created = []

    def target(folder: Path) -> Path:
        path = folder / f"tesla-private-key-{tmp_path.name}.pem"
        created.append(path)
        settings.TESLA_PRIVATE_KEY_FILE = str(path)
        return path

    yield target
    for path in created:
        path.unlink(missing_ok=True)


def test_a_key_file_in_an_apps_static_folder_is_refused(settings, tmp_path, key_target):
    # The admin's static folder exists and is served at /static/admin/; the project folder is
    # moved away so that only the static-folder rule can refuse it.
    settings.BASE_DIR = tmp_path
    target = key_target(Path(apps.get_app_config("admin").path) / "static" / "admin")
    with pytest.raises(services.PartnerSetupError) as refused:
        services.partner_key_generate()
    assert "TESLA_PRIVATE_KEY_FILE must be outside the project folder" in str(refused.value)
    assert not target.exists() and not PartnerKey.objects.exists()


def test_a_key_file_in_the_project_folder_is_refused(key_target):
    # Deployed with the code and readable by the web server: var/ is inside it too.
    target = key_target(BASE_DIR / "var")
    with pytest.raises(services.PartnerSetupError, match="outside the project folder"):
        services.partner_key_generate()
    assert not target.exists() and not PartnerKey.objects.exists()


def test_a_key_file_in_a_staticfiles_dirs_entry_is_refused(settings, tmp_path):
    settings.STATICFILES_DIRS = [("vendor", str(tmp_path / "public"))]
    (tmp_path / "public").mkdir()
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "public" / "key.pem")
    with pytest.raises(services.PartnerSetupError, match="outside the project folder"):
        services.partner_key_generate()
    assert not (tmp_path / "public" / "key.pem").exists()


def test_preflight_flags_a_key_file_stored_in_a_served_folder(settings, tmp_path):
    # Stored before the rule existed (or the folder became a static root later).
    settings.TESLA_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    services.partner_key_generate()
    settings.STATICFILES_DIRS = [str(tmp_path)]
    check = services.partner_preflight()[0]
    assert check.check == "Application key is EC P-256"
    assert check.ok is False and "must be outside the project folder" in check.message


def test_keygen_command_refuses_to_overwrite_without_force(capsys):
    call_command("tesla_keygen")
    first = PartnerKey.objects.get().fingerprint
    assert first in capsys.readouterr().out
    with pytest.raises(CommandError, match="already exists.*Use --force"):
        call_command("tesla_keygen")
    assert PartnerKey.objects.get().fingerprint == first
    call_command("tesla_keygen", "--force")
    assert PartnerKey.objects.get().fingerprint != first


def test_import_command_reports_a_refused_key_clearly(tmp_path):
    path = tmp_path / "rsa.pem"
    path.write_bytes(factories.rsa_2048())
    with pytest.raises(CommandError, match="This is an RSA key"):
        call_command("tesla_import_key", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("tesla_import_key", str(tmp_path / "absent.pem"))
    assert not PartnerKey.objects.exists()


def test_fingerprint_is_the_sha256_of_the_der_public_key():
    key = services.partner_key_generate()
    public = serialization.load_pem_public_key(key.public_key_pem.encode())
    assert key.fingerprint == keys.fingerprint(public)
    assert len(key.fingerprint) == 95 and key.fingerprint.count(":") == 31
