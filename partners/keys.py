"""The application key: parsing, checking and encoding EC P-256 keys (no database here).

Tesla's vehicles only support prime256v1 (§3.1); its tooling reads SEC1
(`EC PRIVATE KEY`) or unencrypted PKCS#8 private keys and serves/accepts PKIX public keys.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils.translation import gettext as _


class KeyRejected(ValueError):
    """The PEM is not a usable P-256 private key; the message says why, for the operator."""


def key_generate() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_parse_private(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from SEC1 or PKCS#8 PEM, or KeyRejected with a clear reason."""
    data = pem.encode() if isinstance(pem, str) else bytes(pem)
    if b"-----BEGIN " not in data:
        raise KeyRejected(
            _(
                "This is not a PEM file: expected a private key block labelled EC PRIVATE KEY "
                "(SEC1) or PRIVATE KEY (PKCS#8)."
            )
        )
    if b"PRIVATE KEY-----" not in data and (
        b"PUBLIC KEY-----" in data or b"CERTIFICATE-----" in data
    ):
        raise KeyRejected(
            _(
                "This is a public key (or certificate), but the private key is needed: the "
                "file whose block is labelled EC PRIVATE KEY or PRIVATE KEY. The portal derives "
                "the public key from it."
            )
        )
    if b"ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        raise KeyRejected(
            _(
                "This private key is protected by a passphrase. Remove it first (openssl ec "
                "-in encrypted.pem -out private-key.pem) and import the result."
            )
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise KeyRejected(_("This private key is protected by a passphrase.")) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyRejected(
            _("The PEM could not be read as a private key: it is damaged or incomplete.")
        ) from exc
    if isinstance(key, rsa.RSAPrivateKey):
        raise KeyRejected(
            _(
                "This is an RSA key. Tesla only accepts EC keys on the P-256 curve (prime256v1, "
                "secp256r1): openssl ecparam -name prime256v1 -genkey -noout -out "
                "private-key.pem"
            )
        )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyRejected(
            _(
                "This is a %(kind)s key. Tesla only accepts EC keys on the P-256 curve "
                "(prime256v1, secp256r1)."
            )
            % {"kind": type(key).__name__.removesuffix("PrivateKey").removeprefix("_")}
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyRejected(
            _(
                "This EC key is on the %(curve)s curve. Tesla only accepts P-256 (prime256v1, "
                "secp256r1)."
            )
            % {"curve": key.curve.name}
        )
    return key


def key_private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    # SEC1, as `openssl ecparam -genkey -noout` writes it and Tesla's tooling reads it.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_pem(public_key: ec.EllipticCurvePublicKey) -> str:
    """PKIX (SubjectPublicKeyInfo) PEM: `-----BEGIN PUBLIC KEY-----` (§3.1)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_hex(public_key: ec.EllipticCurvePublicKey) -> str:
    """The 65-byte uncompressed point in hex: how Tesla reports a registered key (§3.3)."""
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    ).hex()


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the DER public key, colon-separated hex (what `openssl pkey -pubin` hashes)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
