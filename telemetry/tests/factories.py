from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from telemetry.models import TelemetryConfig, TelemetryField


def pem_cert(
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    name: str = "Test Telemetry CA",
) -> str:
    """A self-signed CA certificate (PEM), valid now unless told otherwise."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def pem_private_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


_CA = None


def ca() -> str:
    global _CA
    if _CA is None:
        _CA = pem_cert()
    return _CA


def make_config(
    *,
    name: str = "fleet",
    hostname: str = "telemetry.example.com",
    fields: dict[str, int] | None = None,
    exp: dt.datetime | None = None,
    **extra,
) -> TelemetryConfig:
    config = TelemetryConfig.objects.create(
        name=name,
        hostname=hostname,
        port=extra.pop("port", 4443),
        ca=ca(),
        exp=exp or timezone.now() + dt.timedelta(days=30),
        delivery_policy="latest",
        alert_types=["service"],
        **extra,
    )
    for field, interval in (fields or {"Soc": 60, "VehicleSpeed": 10}).items():
        TelemetryField.objects.create(config=config, name=field, interval_seconds=interval)
    return config
