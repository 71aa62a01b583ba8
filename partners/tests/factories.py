"""PEM files as operators bring them: made on the spot, never committed."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def _private(key, fmt=serialization.PrivateFormat.PKCS8, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def p256_sec1() -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _private(key, serialization.PrivateFormat.TraditionalOpenSSL), key


def p256_pkcs8() -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _private(key), key


def p256_encrypted() -> bytes:
    return _private(ec.generate_private_key(ec.SECP256R1()), password=b"hunter22")


def p384() -> bytes:
    return _private(ec.generate_private_key(ec.SECP384R1()))


def rsa_2048() -> bytes:
    return _private(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ed25519_key() -> bytes:
    return _private(ed25519.Ed25519PrivateKey.generate())


def p256_public() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def malformed() -> bytes:
    good, _key = p256_sec1()
    lines = good.splitlines()
    # Header and footer intact, body cut in half: what a bad copy-paste produces.
    return b"\n".join([lines[0], lines[1][:20], lines[-1]]) + b"\n"
