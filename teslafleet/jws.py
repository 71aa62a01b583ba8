"""Tesla.SS256 JWS: Schnorr signatures over NIST P-256 with SHA-256 (§5.6)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ecdsa.curves import NIST256p
from ecdsa.ellipticcurve import INFINITY, PointJacobi

__all__ = [
    "ALGORITHM",
    "HEADER",
    "SIGNATURE_LENGTH",
    "TELEMETRY_AUDIENCE",
    "InvalidToken",
    "deterministic_nonce",
    "issuer_for",
    "public_key_from_issuer",
    "schnorr_sign",
    "schnorr_verify",
    "sign",
    "verify",
]

ALGORITHM = "Tesla.SS256"
# Tesla's Go library (golang-jwt) emits exactly these two keys, sorted, no `kid`.
HEADER: dict[str, str] = {"alg": ALGORITHM, "typ": "JWT"}
# "com.tesla.fleet." + app, app = "TelemetryClient" (pkg/sign SignMessageForFleet, section 5.6).
TELEMETRY_AUDIENCE = "com.tesla.fleet.TelemetryClient"

SCALAR_LENGTH = 32
POINT_LENGTH = 1 + 2 * SCALAR_LENGTH
# X(V) || Y(V) || r: the SDK drops the 0x04 prefix of V (internal/schnorr/sign.go).
SIGNATURE_LENGTH = 3 * SCALAR_LENGTH

_CURVE = NIST256p.curve
_G = NIST256p.generator
_N = NIST256p.order
_G_BYTES = b"\x04" + _G.x().to_bytes(SCALAR_LENGTH, "big") + _G.y().to_bytes(SCALAR_LENGTH, "big")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

PublicKeyLike = ec.EllipticCurvePublicKey | bytes


class InvalidToken(ValueError):
    """Raised when a Tesla.SS256 token is malformed or its signature does not verify."""


# --- Schnorr primitives (internal/schnorr in teslamotors/vehicle-command) -------------------


def deterministic_nonce(private_scalar: int, digest: bytes) -> int:
    """Return the RFC 6979 nonce for a P-256 scalar and a 32-byte SHA-256 digest."""
    _check_scalar(private_scalar)
    if len(digest) != hashlib.sha256().digest_size:
        raise ValueError("digest must be the 32-byte SHA-256 of the message")
    x = _scalar_bytes(private_scalar)
    # bits2octets: the SDK reduces the digest mod n and keeps it at 32 bytes (sign.go).
    h1 = _scalar_bytes(_int(digest) % _N)
    k = b"\x00" * 32
    v = b"\x01" * 32
    k = hmac.digest(k, v + b"\x00" + x + h1, hashlib.sha256)
    v = hmac.digest(k, v, hashlib.sha256)
    k = hmac.digest(k, v + b"\x01" + x + h1, hashlib.sha256)
    v = hmac.digest(k, v, hashlib.sha256)
    while True:
        # hlen == qlen == 256, so the candidate T is exactly one fresh V (RFC 6979 3.2 h).
        v = hmac.digest(k, v, hashlib.sha256)
        nonce = _int(v)
        if 1 <= nonce < _N:
            return nonce
        k = hmac.digest(k, v + b"\x00", hashlib.sha256)
        v = hmac.digest(k, v, hashlib.sha256)


def schnorr_sign(private_scalar: int, message: bytes) -> bytes:
    """Return the 96-byte Tesla Schnorr signature X(V) || Y(V) || r of message."""
    _check_scalar(private_scalar)
    public = _point_bytes(ec.derive_private_key(private_scalar, ec.SECP256R1()).public_key())
    k = deterministic_nonce(private_scalar, hashlib.sha256(message).digest())
    public_nonce = _point_bytes(ec.derive_private_key(k, ec.SECP256R1()).public_key())
    c = _int(_challenge(public_nonce, public, message))
    r = (k - private_scalar * c) % _N
    return public_nonce[1:] + _scalar_bytes(r)


def schnorr_verify(public_point: bytes, message: bytes, signature: bytes) -> bool:
    """Return whether signature is a valid Tesla Schnorr signature of message by public_point."""
    if len(signature) != SIGNATURE_LENGTH or len(public_point) != POINT_LENGTH:
        return False
    # PointJacobi.from_bytes does not check that an uncompressed point is on the curve, so the
    # key is validated by `cryptography` first (schnorr.Verify relies on elliptic.Unmarshal).
    try:
        numbers = _load_point(bytes(public_point), ValueError, "public key").public_numbers()
    except ValueError:
        return False
    if not _CURVE.contains_point(numbers.x, numbers.y):
        return False
    a_point = PointJacobi(_CURVE, numbers.x, numbers.y, 1, _N)
    # Like schnorr.Verify, c is hashed over the transmitted V and r is reduced mod n by the
    # scalar multiplication, so a non-canonical r >= n verifies as it does on Tesla's side.
    c = _int(_challenge(b"\x04" + signature[: 2 * SCALAR_LENGTH], bytes(public_point), message))
    r = _int(signature[2 * SCALAR_LENGTH :])
    rebuilt = _G.mul_add(r % _N, a_point, c % _N)
    if rebuilt == INFINITY:
        return False
    rebuilt = rebuilt.to_affine()
    expected = _scalar_bytes(rebuilt.x()) + _scalar_bytes(rebuilt.y())
    return hmac.compare_digest(expected, bytes(signature[: 2 * SCALAR_LENGTH]))


# --- JWS layer (internal/authentication/jwt.go, pkg/sign, cmd/tesla-jws) --------------------


def issuer_for(public_key: PublicKeyLike) -> str:
    """Return the `iss` claim Tesla expects for public_key."""
    # Standard alphabet *with* padding, unlike the base64url JWS segments (jwt.go SignMessage).
    return base64.b64encode(_public_point(public_key)).decode("ascii")


def public_key_from_issuer(iss: str) -> ec.EllipticCurvePublicKey:
    """Return the P-256 public key encoded in an `iss` claim."""
    if not isinstance(iss, str):
        raise InvalidToken("iss must be a string")
    try:
        point = base64.b64decode(iss.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidToken("iss is not standard base64") from exc
    return _load_point(point, InvalidToken, "iss")


def sign(
    private_key: ec.EllipticCurvePrivateKey,
    claims: dict[str, Any],
    *,
    audience: str = TELEMETRY_AUDIENCE,
) -> str:
    """Return the compact Tesla.SS256 JWS of claims with `iss` and `aud` set by the signer."""
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise ValueError("Tesla.SS256 needs a NIST P-256 (secp256r1) elliptic-curve private key")
    payload = dict(claims)
    # The proxy warns and overwrites caller-supplied aud/iss (pkg/proxy/proxy.go, section 5.2).
    payload["iss"] = issuer_for(private_key.public_key())
    payload["aud"] = audience
    signing_input = f"{_b64url_json(HEADER)}.{_b64url_json(payload)}"
    signature = schnorr_sign(
        private_key.private_numbers().private_value, signing_input.encode("ascii")
    )
    return f"{signing_input}.{_b64url_encode(signature)}"


def verify(token: str, public_key: PublicKeyLike | None = None) -> dict[str, Any]:
    """Return the claims of token after checking its Tesla.SS256 signature."""
    header_b64, payload_b64, signature_b64 = _segments(token)
    header = _json_object(_b64url_decode(header_b64, "header"), "header")
    # cmd/tesla-jws only checks alg; golang-jwt ignores typ, but anything but "JWT" is not ours.
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"unsupported alg {header.get('alg')!r}, expected {ALGORITHM!r}")
    if header.get("typ", "JWT") != "JWT":
        raise InvalidToken(f"unsupported typ {header.get('typ')!r}")
    claims = _json_object(_b64url_decode(payload_b64, "payload"), "payload")
    signature = _b64url_decode(signature_b64, "signature")
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidToken(f"signature must be {SIGNATURE_LENGTH} bytes, got {len(signature)}")

    if "iss" not in claims:
        raise InvalidToken("token has no iss claim")
    issuer_point = _public_point(public_key_from_issuer(claims["iss"]))
    # Without a key, like `tesla-jws verify`, trusting iss is the caller's decision (section 5.6).
    point = issuer_point if public_key is None else _public_point(public_key)

    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    if not schnorr_verify(point, signing_input, signature):
        raise InvalidToken("signature does not verify")
    if not hmac.compare_digest(point, issuer_point):
        raise InvalidToken("iss does not match the expected public key")
    return claims


def read_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS of any algorithm (Tesla's RS256 access tokens
    too), WITHOUT checking the signature: for a token the caller only carries, never one it
    must trust. Raises InvalidToken when it is not a well-formed JWS."""
    header_b64, payload_b64, signature_b64 = _segments(token)
    header = _json_object(_b64url_decode(header_b64, "header"), "header")
    claims = _json_object(_b64url_decode(payload_b64, "payload"), "payload")
    _b64url_decode(signature_b64, "signature")
    return header, claims


# --- helpers --------------------------------------------------------------------------------


def _segments(token: str) -> list[str]:
    if not isinstance(token, str):
        raise InvalidToken("token must be a string")
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidToken("token must have three dot-separated segments")
    return segments


def _check_scalar(private_scalar: int) -> None:
    if not isinstance(private_scalar, int) or not 1 <= private_scalar < _N:
        raise ValueError("private scalar must be an integer in [1, n-1] for P-256")


def _int(data: bytes) -> int:
    # Big-endian, as SEC 1 and RFC 6979 read octet strings.
    return int.from_bytes(data, "big")


def _scalar_bytes(value: int) -> bytes:
    return value.to_bytes(SCALAR_LENGTH, "big")


def _challenge(public_nonce: bytes, public_key: bytes, message: bytes) -> bytes:
    # Each field is length-prefixed with 4 big-endian bytes, G first (schnorr.go challenge).
    digest = hashlib.sha256()
    for field in (_G_BYTES, public_nonce, public_key, message):
        digest.update(len(field).to_bytes(4, "big"))
        digest.update(field)
    return digest.digest()


def _point_bytes(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _load_point(point: bytes, error: type[ValueError], what: str) -> ec.EllipticCurvePublicKey:
    # Only 65-byte uncompressed points: the SDK's elliptic.Unmarshal rejects anything else.
    if len(point) != POINT_LENGTH or point[0] != 0x04:
        raise error(f"{what} must be a 65-byte uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise error(f"{what} is not a point on P-256") from exc


def _public_point(public_key: PublicKeyLike) -> bytes:
    if isinstance(public_key, bytes | bytearray | memoryview):
        return _point_bytes(_load_point(bytes(public_key), ValueError, "public key"))
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise ValueError("public key must be a NIST P-256 elliptic-curve public key")
    return _point_bytes(public_key)


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str, what: str) -> bytes:
    # JWS segments are unpadded base64url (RFC 7515); reject padding and foreign characters.
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidToken(f"{what} is not unpadded base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url_json(value: dict[str, Any]) -> str:
    # Sorted keys and compact separators, as Go's encoding/json marshals a map.
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return _b64url_encode(text.encode("utf-8"))


def _reject_constant(name: str) -> None:
    raise InvalidToken(f"JSON constant {name} is not allowed")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidToken(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"{what} must be a JSON object")
    return value
