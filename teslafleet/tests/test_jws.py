"""Tests for the Tesla.SS256 JWS signer/verifier against Tesla's vectors and tampered tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from teslafleet import jws

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "tesla-ss256-vectors.json").read_text(encoding="utf-8")
)
SIGN_VECTOR = VECTORS["sign"][0]
NONCE_VECTORS = VECTORS["nonce"]
JWS_VECTOR = VECTORS["verify_jws"][0]
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

CONFIG = {
    "hostname": "telemetry.example.com",
    "port": 4443,
    "ca": "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n",
    "exp": 1704067200,
    "fields": {"ChargerVoltage": {"interval_seconds": 1, "minimum_delta": 5}},
}


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    """Return a P-256 key generated for this test run only."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def other_key() -> ec.EllipticCurvePrivateKey:
    """Return a second, unrelated P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: Any) -> str:
    return _b64url(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def _segments(token: str) -> tuple[str, str, str]:
    header, payload, signature = token.split(".")
    return header, payload, signature


def _decode_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _forge(private_key: ec.EllipticCurvePrivateKey, header: Any, payload: Any) -> str:
    """Build a token whose signature is valid for whatever header and payload are given."""
    signing_input = f"{_b64url_json(header)}.{_b64url_json(payload)}"
    signature = jws.schnorr_sign(
        private_key.private_numbers().private_value, signing_input.encode("ascii")
    )
    return f"{signing_input}.{_b64url(signature)}"


def _point(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


# --- Tesla's vectors ------------------------------------------------------------------------


def test_schnorr_sign_reproduces_teslas_signature_byte_for_byte() -> None:
    scalar = int(SIGN_VECTOR["private_scalar_hex"], 16)
    signature = jws.schnorr_sign(scalar, SIGN_VECTOR["message_ascii"].encode("ascii"))
    assert signature.hex() == SIGN_VECTOR["signature_hex"]


def test_schnorr_verify_accepts_teslas_signature() -> None:
    assert jws.schnorr_verify(
        bytes.fromhex(SIGN_VECTOR["public_key_hex"]),
        SIGN_VECTOR["message_ascii"].encode("ascii"),
        bytes.fromhex(SIGN_VECTOR["signature_hex"]),
    )


def test_schnorr_verify_rejects_teslas_signature_for_another_message() -> None:
    assert not jws.schnorr_verify(
        bytes.fromhex(SIGN_VECTOR["public_key_hex"]),
        b"hello world!",
        bytes.fromhex(SIGN_VECTOR["signature_hex"]),
    )


def test_sign_vector_public_key_matches_its_private_scalar() -> None:
    private_key = ec.derive_private_key(int(SIGN_VECTOR["private_scalar_hex"], 16), ec.SECP256R1())
    assert _point(private_key).hex() == SIGN_VECTOR["public_key_hex"]


def test_deterministic_nonce_matches_rfc6979_sample_vector() -> None:
    vector = NONCE_VECTORS[0]
    digest = hashlib.sha256(vector["message_ascii"].encode("ascii")).digest()
    nonce = jws.deterministic_nonce(int(vector["private_scalar_hex"], 16), digest)
    assert nonce == int(vector["nonce_hex"], 16)


def test_deterministic_nonce_retries_when_first_candidate_exceeds_order() -> None:
    vector = NONCE_VECTORS[1]
    nonce = jws.deterministic_nonce(
        int(vector["private_scalar_hex"], 16), bytes.fromhex(vector["digest_hex"])
    )
    assert nonce == int(vector["nonce_hex"], 16)


def test_teslas_jws_verifies_with_its_public_key_and_yields_its_claims() -> None:
    public_point = bytes.fromhex(JWS_VECTOR["public_key_hex"])
    claims = jws.verify(JWS_VECTOR["token"], public_point)
    assert claims == {**JWS_VECTOR["claims"], "iss": jws.issuer_for(public_point)}


def test_teslas_jws_verifies_with_public_key_object() -> None:
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), bytes.fromhex(JWS_VECTOR["public_key_hex"])
    )
    claims = jws.verify(JWS_VECTOR["token"], public_key)
    assert claims["foo"] == "bar"


def test_teslas_jws_verifies_against_its_own_issuer() -> None:
    claims = jws.verify(JWS_VECTOR["token"])
    assert claims["iss"] == jws.issuer_for(bytes.fromhex(JWS_VECTOR["public_key_hex"]))
    assert claims["aud"] == JWS_VECTOR["claims"]["aud"]


def test_teslas_jws_vector_is_rejected_by_another_key(other_key) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verify(JWS_VECTOR["token"], other_key.public_key())


def test_signed_header_segment_is_byte_identical_to_teslas(key) -> None:
    header = _segments(jws.sign(key, CONFIG))[0]
    assert header == _segments(JWS_VECTOR["token"])[0]
    assert _decode_json(header) == {"alg": "Tesla.SS256", "typ": "JWT"}


# --- signing --------------------------------------------------------------------------------


def test_sign_then_verify_round_trip_with_a_fresh_key(key) -> None:
    token = jws.sign(key, CONFIG)
    claims = jws.verify(token, key.public_key())
    assert claims == {
        **CONFIG,
        "aud": jws.TELEMETRY_AUDIENCE,
        "iss": jws.issuer_for(key.public_key()),
    }
    assert jws.verify(token) == claims
    assert jws.verify(token, _point(key)) == claims


def test_signature_segment_is_96_bytes_unpadded_base64url(key) -> None:
    signature = _segments(jws.sign(key, CONFIG))[2]
    assert len(signature) == 128
    assert "=" not in signature
    assert len(base64.urlsafe_b64decode(signature)) == jws.SIGNATURE_LENGTH


def test_payload_is_compact_json_with_sorted_keys(key) -> None:
    payload = _segments(jws.sign(key, {"b": 1, "a": {"d": 2, "c": 3}}))[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert raw == json.dumps(_decode_json(payload), sort_keys=True, separators=(",", ":"))


def test_signing_is_deterministic(key) -> None:
    assert jws.sign(key, CONFIG) == jws.sign(key, CONFIG)
    scalar = key.private_numbers().private_value
    assert jws.schnorr_sign(scalar, b"config") == jws.schnorr_sign(scalar, b"config")


def test_sign_overwrites_caller_supplied_iss_and_aud(key, other_key) -> None:
    claims = {**CONFIG, "iss": jws.issuer_for(other_key.public_key()), "aud": "com.example.App"}
    signed = jws.verify(jws.sign(key, claims))
    assert signed["iss"] == jws.issuer_for(key.public_key())
    assert signed["aud"] == jws.TELEMETRY_AUDIENCE


def test_sign_leaves_the_callers_claims_untouched(key) -> None:
    claims = {**CONFIG, "aud": "mine"}
    jws.sign(key, claims)
    assert claims == {**CONFIG, "aud": "mine"}


def test_sign_uses_the_audience_argument(key) -> None:
    audience = "com.tesla.vehicle.5YJ3E1EA7KF000000.TelemetryClient"
    assert jws.verify(jws.sign(key, CONFIG, audience=audience))["aud"] == audience


def test_issuer_is_padded_standard_base64_of_the_uncompressed_point(key) -> None:
    iss = jws.verify(jws.sign(key, CONFIG))["iss"]
    assert iss.endswith("=")
    assert base64.b64decode(iss, validate=True) == _point(key)
    assert iss == jws.issuer_for(key.public_key()) == jws.issuer_for(_point(key))


def test_public_key_from_issuer_round_trips(key) -> None:
    public_key = jws.public_key_from_issuer(jws.issuer_for(key.public_key()))
    assert public_key.public_numbers() == key.public_key().public_numbers()


def test_sign_refuses_an_rsa_key() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError, match="P-256"):
        jws.sign(rsa_key, CONFIG)


def test_sign_refuses_a_p384_key() -> None:
    with pytest.raises(ValueError, match="P-256"):
        jws.sign(ec.generate_private_key(ec.SECP384R1()), CONFIG)


def test_verify_refuses_a_p384_public_key(key) -> None:
    token = jws.sign(key, CONFIG)
    with pytest.raises(ValueError, match="P-256"):
        jws.verify(token, ec.generate_private_key(ec.SECP384R1()).public_key())


# --- rejected tokens ------------------------------------------------------------------------


def test_tampered_payload_is_rejected(key) -> None:
    header, _, signature = _segments(jws.sign(key, CONFIG))
    claims = jws.verify(jws.sign(key, CONFIG))
    payload = _b64url_json({**claims, "port": 443})
    with pytest.raises(jws.InvalidToken, match="signature"):
        jws.verify(f"{header}.{payload}.{signature}", key.public_key())


def test_tampered_signature_is_rejected(key) -> None:
    header, payload, signature = _segments(jws.sign(key, CONFIG))
    raw = bytearray(base64.urlsafe_b64decode(signature))
    raw[-1] ^= 0x01
    with pytest.raises(jws.InvalidToken, match="signature"):
        jws.verify(f"{header}.{payload}.{_b64url(bytes(raw))}")


def test_tampered_nonce_point_is_rejected(key) -> None:
    header, payload, signature = _segments(jws.sign(key, CONFIG))
    raw = bytearray(base64.urlsafe_b64decode(signature))
    raw[0] ^= 0x80
    with pytest.raises(jws.InvalidToken):
        jws.verify(f"{header}.{payload}.{_b64url(bytes(raw))}", key.public_key())


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "typ": "JWT"},
        {"alg": "none", "typ": "JWT"},
        {"alg": "tesla.ss256", "typ": "JWT"},
        {"typ": "JWT"},
        {"alg": "Tesla.SS256", "typ": "JWE"},
    ],
)
def test_wrong_header_is_rejected_even_with_a_valid_signature(key, header) -> None:
    payload = {**CONFIG, "aud": jws.TELEMETRY_AUDIENCE, "iss": jws.issuer_for(key.public_key())}
    with pytest.raises(jws.InvalidToken):
        jws.verify(_forge(key, header, payload), key.public_key())


@pytest.mark.parametrize("length", [0, 64, 95, 97, 128])
def test_signature_of_wrong_length_is_rejected(key, length) -> None:
    header, payload, _ = _segments(jws.sign(key, CONFIG))
    with pytest.raises(jws.InvalidToken, match="96 bytes"):
        jws.verify(f"{header}.{payload}.{_b64url(bytes([1]) * length)}")


def test_truncated_signature_is_rejected(key) -> None:
    token = jws.sign(key, CONFIG)
    with pytest.raises(jws.InvalidToken):
        jws.verify(token[:-4])


def test_issuer_not_on_the_curve_is_rejected(key) -> None:
    point = bytearray(_point(key))
    point[-1] ^= 0x01
    payload = {**CONFIG, "iss": base64.b64encode(bytes(point)).decode()}
    token = _forge(key, jws.HEADER, payload)
    with pytest.raises(jws.InvalidToken, match="not a point on P-256"):
        jws.verify(token)
    with pytest.raises(jws.InvalidToken):
        jws.verify(token, key.public_key())


@pytest.mark.parametrize(
    "iss",
    [
        "",
        "not base64!",
        # compressed point: Tesla only uses 65-byte uncompressed points
        base64.b64encode(bytes.fromhex(SIGN_VECTOR["public_key_hex"])[:33]).decode(),
        # padding stripped: Tesla's iss is padded standard base64
        base64.b64encode(bytes.fromhex(SIGN_VECTOR["public_key_hex"])).decode().rstrip("="),
        42,
    ],
)
def test_malformed_issuer_is_rejected(key, iss) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verify(_forge(key, jws.HEADER, {**CONFIG, "iss": iss}))


def test_missing_issuer_is_rejected(key) -> None:
    with pytest.raises(jws.InvalidToken, match="iss"):
        jws.verify(_forge(key, jws.HEADER, CONFIG))


def test_verify_with_another_key_is_rejected(key, other_key) -> None:
    token = jws.sign(key, CONFIG)
    with pytest.raises(jws.InvalidToken):
        jws.verify(token, other_key.public_key())
    with pytest.raises(jws.InvalidToken):
        jws.verify(token, _point(other_key))


def test_valid_signature_with_someone_elses_issuer_is_rejected(key, other_key) -> None:
    payload = {**CONFIG, "iss": jws.issuer_for(other_key.public_key())}
    token = _forge(key, jws.HEADER, payload)
    with pytest.raises(jws.InvalidToken, match="iss does not match"):
        jws.verify(token, key.public_key())
    with pytest.raises(jws.InvalidToken, match="signature"):
        jws.verify(token)


def test_verify_without_key_trusts_the_issuer_so_callers_must_compare_it(key, other_key) -> None:
    claims = jws.verify(jws.sign(other_key, CONFIG))
    assert claims["iss"] != jws.issuer_for(key.public_key())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJUZXNsYS5TUzI1NiIsInR5cCI6IkpXVCJ9=.e30.AAAA",
        "!!!.e30.AAAA",
        f"{_b64url(b'not json')}.e30.AAAA",
        f"{_b64url(b'[1]')}.e30.AAAA",
        _b64url(bytes([0xFF, 0xFE])) + ".e30.AAAA",
    ],
)
def test_malformed_token_is_rejected(token) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verify(token)


@pytest.mark.parametrize("payload", [b"[]", b"not json", b'{"exp": NaN}'])
def test_payload_that_is_not_a_json_object_is_rejected(key, payload) -> None:
    header = _b64url_json(jws.HEADER)
    signing_input = f"{header}.{_b64url(payload)}"
    signature = jws.schnorr_sign(key.private_numbers().private_value, signing_input.encode())
    with pytest.raises(jws.InvalidToken):
        jws.verify(f"{signing_input}.{_b64url(signature)}")


def test_invalid_token_is_a_value_error() -> None:
    assert issubclass(jws.InvalidToken, ValueError)


# --- low-level guards -----------------------------------------------------------------------


def test_schnorr_verify_returns_false_for_malformed_inputs(key) -> None:
    signature = jws.schnorr_sign(key.private_numbers().private_value, b"m")
    assert jws.schnorr_verify(_point(key), b"m", signature)
    assert not jws.schnorr_verify(_point(key), b"m", signature[:-1])
    assert not jws.schnorr_verify(_point(key)[:-1], b"m", signature)
    assert not jws.schnorr_verify(b"\x04" + b"\x00" * 64, b"m", signature)


@pytest.mark.parametrize("scalar", [0, P256_ORDER, -1])
def test_scalar_outside_the_group_order_is_refused(scalar) -> None:
    with pytest.raises(ValueError, match="private scalar"):
        jws.schnorr_sign(scalar, b"m")


def test_nonce_needs_a_32_byte_digest() -> None:
    with pytest.raises(ValueError, match="digest"):
        jws.deterministic_nonce(3, b"short")


# --- strictness a correctly signed token must still meet (issue 20) -------------------------


def _signed(key, header_segment: str, payload_segment: str) -> str:
    """A token whose signature is valid over exactly these (possibly malformed) segments."""
    signing_input = f"{header_segment}.{payload_segment}"
    signature = jws.schnorr_sign(key.private_numbers().private_value, signing_input.encode())
    return f"{signing_input}.{_b64url(signature)}"


def _claims(key) -> dict[str, Any]:
    return {**CONFIG, "aud": jws.TELEMETRY_AUDIENCE, "iss": jws.issuer_for(key.public_key())}


def test_a_correctly_signed_token_verifies_through_the_helper(key) -> None:
    # The helper builds valid tokens: each test below changes one thing only.
    payload = _b64url_json(_claims(key))
    assert jws.verify(_signed(key, _b64url_json(jws.HEADER), payload), key.public_key())


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s + "=" * (-len(s) % 4 or 4),  # padded
        lambda s: s[:5] + "+" + s[6:],  # standard base64's alphabet
        lambda s: s[:5] + "!" + s[6:],  # not base64 at all, after a valid start
        lambda s: s + "A" * ((1 - len(s)) % 4),  # a length of 4k+1
    ],
)
def test_a_signed_payload_segment_must_be_unpadded_base64url(key, mangle) -> None:
    payload = mangle(_b64url_json(_claims(key)))
    token = _signed(key, _b64url_json(jws.HEADER), payload)
    with pytest.raises(jws.InvalidToken, match="payload is not unpadded base64url"):
        jws.verify(token, key.public_key())


def test_json_constants_are_refused_in_a_correctly_signed_token(key) -> None:
    text = json.dumps(_claims(key), sort_keys=True, separators=(",", ":"))
    payload = _b64url(text.replace('"exp":1704067200', '"exp":NaN').encode())
    token = _signed(key, _b64url_json(jws.HEADER), payload)
    with pytest.raises(jws.InvalidToken, match="JSON constant NaN"):
        jws.verify(token, key.public_key())


def test_a_real_compressed_point_is_refused_as_iss(key) -> None:
    compressed = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    assert len(compressed) == 33
    token = _forge(key, jws.HEADER, {**CONFIG, "iss": base64.b64encode(compressed).decode()})
    with pytest.raises(jws.InvalidToken):
        jws.verify(token)
    with pytest.raises(jws.InvalidToken):
        jws.verify(token, key.public_key())


def test_a_non_base64_character_in_iss_is_refused(key) -> None:
    issuer = jws.issuer_for(key.public_key())
    token = _forge(key, jws.HEADER, {**CONFIG, "iss": issuer[:10] + "!" + issuer[10:]})
    with pytest.raises(jws.InvalidToken):
        jws.verify(token)


def test_a_97_byte_signature_does_not_verify(key) -> None:
    signature = jws.schnorr_sign(key.private_numbers().private_value, b"m")
    assert not jws.schnorr_verify(_point(key), b"m", signature + b"\x00")


@pytest.mark.parametrize("token", [None, b"a.b.c", 42, ["a", "b", "c"]])
def test_a_token_that_is_not_a_string_is_an_invalid_token(token) -> None:
    with pytest.raises(jws.InvalidToken, match=_exactly("token must be a string")):
        jws.verify(token)  # type: ignore[arg-type]
    with pytest.raises(jws.InvalidToken, match=_exactly("token must be a string")):
        jws.read_unverified(token)  # type: ignore[arg-type]


def test_signing_writes_non_ascii_claims_as_utf8(key) -> None:
    token = jws.sign(key, {**CONFIG, "hostname": "遥测.example.cn"})
    _, payload, _ = _segments(token)
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert "遥测".encode() in raw and b"\\u" not in raw
    assert jws.verify(token, key.public_key())["hostname"] == "遥测.example.cn"


def test_signing_refuses_nan(key) -> None:
    with pytest.raises(ValueError):
        jws.sign(key, {**CONFIG, "exp": float("nan")})


# --- read_unverified: Tesla's RS256 access tokens are carried, never trusted ----------------


def _exactly(message: str) -> str:
    """A `match` pattern for exactly this error message (they reach staff and logs)."""
    return "^" + re.escape(message) + "$"


RS256_HEADER = {"alg": "RS256", "kid": "tesla-key-1", "typ": "JWT"}
RS256_CLAIMS = {"aud": ["https://fleet-api.prd.na.vn.cloud.tesla.com"], "exp": 1704067200}
RS256_TOKEN = (
    f"{_b64url_json(RS256_HEADER)}.{_b64url_json(RS256_CLAIMS)}.{_b64url(bytes(range(256)))}"
)


def test_read_unverified_returns_the_header_and_claims_of_an_rs256_token() -> None:
    assert jws.read_unverified(RS256_TOKEN) == (RS256_HEADER, RS256_CLAIMS)


def test_read_unverified_returns_the_header_and_claims_of_teslas_ss256_token() -> None:
    header, claims = jws.read_unverified(JWS_VECTOR["token"])
    assert header == jws.HEADER
    assert claims == jws.verify(JWS_VECTOR["token"])


def test_read_unverified_does_not_check_the_signature(key) -> None:
    header, payload, _ = _segments(jws.sign(key, CONFIG))
    assert jws.read_unverified(f"{header}.{payload}.")[1]["port"] == CONFIG["port"]


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", RS256_TOKEN + ".e30"])
def test_read_unverified_needs_three_segments(token) -> None:
    with pytest.raises(
        jws.InvalidToken, match=_exactly("token must have three dot-separated segments")
    ):
        jws.read_unverified(token)


@pytest.mark.parametrize(("index", "what"), [(0, "header"), (1, "payload"), (2, "signature")])
@pytest.mark.parametrize("bad", ["e30=", "e3+0", "e30!", "e30AA"])
def test_read_unverified_rejects_bad_base64url_in_each_segment(index, what, bad) -> None:
    segments = RS256_TOKEN.split(".")
    segments[index] = bad
    with pytest.raises(jws.InvalidToken, match=_exactly(f"{what} is not unpadded base64url")):
        jws.read_unverified(".".join(segments))


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[1]", "must be a JSON object"),
        (b'"RS256"', "must be a JSON object"),
        (b"not json", "is not valid JSON"),
        (b"\xff\xfe", "is not valid JSON"),
    ],
)
@pytest.mark.parametrize(("index", "what"), [(0, "header"), (1, "payload")])
def test_read_unverified_rejects_a_segment_that_is_not_a_json_object(
    index, what, raw, problem
) -> None:
    segments = RS256_TOKEN.split(".")
    segments[index] = _b64url(raw)
    with pytest.raises(jws.InvalidToken, match=_exactly(f"{what} {problem}")):
        jws.read_unverified(".".join(segments))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("index", [0, 1])
def test_read_unverified_refuses_json_constants(index, constant) -> None:
    segments = RS256_TOKEN.split(".")
    segments[index] = _b64url(f'{{"exp":{constant}}}'.encode())
    with pytest.raises(
        jws.InvalidToken, match=_exactly(f"JSON constant {constant} is not allowed")
    ):
        jws.read_unverified(".".join(segments))


# --- verify's error messages, exactly ---------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("a.b", "token must have three dot-separated segments"),
        ("!!!.e30.AAAA", "header is not unpadded base64url"),
        (f"{_b64url(b'not json')}.e30.AAAA", "header is not valid JSON"),
        (f"{_b64url(b'[1]')}.e30.AAAA", "header must be a JSON object"),
        (
            f"{_b64url_json({'alg': 'ES256'})}.e30.AAAA",
            "unsupported alg 'ES256', expected 'Tesla.SS256'",
        ),
        (
            f"{_b64url_json({'typ': 'JWT'})}.e30.AAAA",
            "unsupported alg None, expected 'Tesla.SS256'",
        ),
        (f"{_b64url_json({'alg': 'Tesla.SS256', 'typ': 'JWE'})}.e30.AAAA", "unsupported typ 'JWE'"),
        (f"{_b64url_json(jws.HEADER)}.{_b64url(b'nope')}.AAAA", "payload is not valid JSON"),
        (f"{_b64url_json(jws.HEADER)}.{_b64url(b'[]')}.AAAA", "payload must be a JSON object"),
        (f"{_b64url_json(jws.HEADER)}.e30.AA+A", "signature is not unpadded base64url"),
        (f"{_b64url_json(jws.HEADER)}.e30.AAAA", "signature must be 96 bytes, got 3"),
        (f"{_b64url_json(jws.HEADER)}.e30.{_b64url(bytes(96))}", "token has no iss claim"),
    ],
)
def test_malformed_token_is_rejected_with_its_message(token, message) -> None:
    with pytest.raises(jws.InvalidToken, match=_exactly(message)):
        jws.verify(token)


def test_a_header_without_typ_is_accepted(key) -> None:
    token = _forge(key, {"alg": jws.ALGORITHM}, _claims(key))
    assert jws.verify(token, key.public_key()) == _claims(key)


def test_a_bad_signature_is_rejected_with_its_message(key, other_key) -> None:
    token = jws.sign(key, CONFIG)
    with pytest.raises(jws.InvalidToken, match=_exactly("signature does not verify")):
        jws.verify(token, other_key.public_key())
    forged = _forge(key, jws.HEADER, {**CONFIG, "iss": jws.issuer_for(other_key.public_key())})
    with pytest.raises(
        jws.InvalidToken, match=_exactly("iss does not match the expected public key")
    ):
        jws.verify(forged, key.public_key())


@pytest.mark.parametrize(
    ("iss", "message"),
    [
        (42, "iss must be a string"),
        ("not base64!", "iss is not standard base64"),
        ("é", "iss is not standard base64"),
        (
            base64.b64encode(bytes.fromhex(SIGN_VECTOR["public_key_hex"])[:33]).decode(),
            "iss must be a 65-byte uncompressed P-256 point",
        ),
        (
            base64.b64encode(b"\x05" + bytes.fromhex(SIGN_VECTOR["public_key_hex"])[1:]).decode(),
            "iss must be a 65-byte uncompressed P-256 point",
        ),
        (base64.b64encode(b"\x04" + bytes(64)).decode(), "iss is not a point on P-256"),
    ],
)
def test_malformed_issuer_is_rejected_with_its_message(key, iss, message) -> None:
    with pytest.raises(jws.InvalidToken, match=_exactly(message)):
        jws.verify(_forge(key, jws.HEADER, {**CONFIG, "iss": iss}))
    if isinstance(iss, str):
        with pytest.raises(jws.InvalidToken, match=_exactly(message)):
            jws.public_key_from_issuer(iss)


@pytest.mark.parametrize(
    ("public_key", "message"),
    [
        (bytes(65), "public key must be a 65-byte uncompressed P-256 point"),
        (
            bytes.fromhex(SIGN_VECTOR["public_key_hex"])[:33],
            "public key must be a 65-byte uncompressed P-256 point",
        ),
        (b"\x04" + bytes(64), "public key is not a point on P-256"),
        (
            ec.generate_private_key(ec.SECP384R1()).public_key(),
            "public key must be a NIST P-256 elliptic-curve public key",
        ),
        ("04" * 65, "public key must be a NIST P-256 elliptic-curve public key"),
    ],
)
def test_verify_refuses_a_bad_public_key_with_its_message(key, public_key, message) -> None:
    token = jws.sign(key, CONFIG)
    with pytest.raises(ValueError, match=_exactly(message)) as raised:
        jws.verify(token, public_key)
    # A caller's misconfigured key is a ValueError, not a bad token.
    assert not isinstance(raised.value, jws.InvalidToken)


@pytest.mark.parametrize("private_key", [ec.generate_private_key(ec.SECP384R1()), "key"])
def test_sign_refuses_a_non_p256_key_with_its_message(private_key) -> None:
    message = "Tesla.SS256 needs a NIST P-256 (secp256r1) elliptic-curve private key"
    with pytest.raises(ValueError, match=_exactly(message)):
        jws.sign(private_key, CONFIG)


@pytest.mark.parametrize("scalar", [0, P256_ORDER, "1", 1.0])
def test_bad_scalar_is_refused_with_its_message(scalar) -> None:
    message = "private scalar must be an integer in [1, n-1] for P-256"
    with pytest.raises(ValueError, match=_exactly(message)):
        jws.schnorr_sign(scalar, b"m")
    with pytest.raises(ValueError, match=_exactly(message)):
        jws.deterministic_nonce(scalar, bytes(32))


def test_short_digest_is_refused_with_its_message() -> None:
    with pytest.raises(
        ValueError, match=_exactly("digest must be the 32-byte SHA-256 of the message")
    ):
        jws.deterministic_nonce(3, bytes(31))


# --- the edges of the group -----------------------------------------------------------------


@pytest.mark.parametrize("scalar", [1, 2, P256_ORDER - 1])
def test_the_smallest_and_largest_scalars_sign_and_verify(scalar) -> None:
    private_key = ec.derive_private_key(scalar, ec.SECP256R1())
    signature = jws.schnorr_sign(scalar, b"m")
    assert jws.schnorr_verify(_point(private_key), b"m", signature)
    assert not jws.schnorr_verify(_point(private_key), b"n", signature)
    assert 1 <= jws.deterministic_nonce(scalar, bytes(32)) < P256_ORDER


def test_a_signature_with_r_padded_to_33_bytes_does_not_verify(key) -> None:
    # Same r value, one more byte: only the length check tells it from a valid signature.
    signature = jws.schnorr_sign(key.private_numbers().private_value, b"m")
    padded = signature[:64] + b"\x00" + signature[64:]
    assert not jws.schnorr_verify(_point(key), b"m", padded)


def test_a_signature_rebuilding_the_point_at_infinity_does_not_verify(key) -> None:
    # r*G + c*A is infinity when r = -a*c: no nonce point V can match it.
    scalar = key.private_numbers().private_value
    nonce_point = _point(ec.derive_private_key(7, ec.SECP256R1()))
    challenge = hashlib.sha256()
    for field in (jws._G_BYTES, nonce_point, _point(key), b"m"):
        challenge.update(len(field).to_bytes(4, "big") + field)
    c = int.from_bytes(challenge.digest(), "big")
    r = (-scalar * c) % P256_ORDER
    signature = nonce_point[1:] + r.to_bytes(32, "big")
    assert not jws.schnorr_verify(_point(key), b"m", signature)


def test_only_padding_is_stripped_from_a_segment_ending_in_x() -> None:
    # Signing is deterministic: with Tesla's vector key and port 85 the signature's base64url
    # ends in "X", which must stay (a looser strip would leave 95 bytes).
    private_key = ec.derive_private_key(int(SIGN_VECTOR["private_scalar_hex"], 16), ec.SECP256R1())
    token = jws.sign(private_key, {"port": 85})
    signature = _segments(token)[2]
    assert signature.endswith("X")
    assert len(signature) == 128
    assert jws.verify(token, private_key.public_key())["port"] == 85
