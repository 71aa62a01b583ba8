"""A throwaway certificate authority for serving the sandbox over HTTPS.

`throwaway_ca(directory)` writes a fresh CA and a server certificate for 127.0.0.1 and
localhost signed by it; the portal trusts the CA through TESLA_CA_BUNDLE, tests through
`requests.get(..., verify=files.ca)`. `python -m sandbox.tls DIR` prints the three paths
for a person rehearsing `python -m sandbox --tls-cert ... --tls-key ...` (sandbox/README.md).
Nothing here is secret beyond the run: the keys are new every time and never leave DIR.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)
CA_FILE, CERT_FILE, KEY_FILE = "sandbox-ca.pem", "sandbox-cert.pem", "sandbox-key.pem"


@dataclass(frozen=True)
class TLSFiles:
    """PEM paths: the CA to trust, and the server's certificate and private key."""

    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_private(path: Path, data: bytes) -> None:
    """Create the file 0600 from the start, so no other user ever reads a key in between."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = _name("Tesla sandbox throwaway CA")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
) -> x509.Certificate:
    # Python's ssl (and OpenSSL) match IP addresses only against IP SANs, names against DNS.
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    return (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def throwaway_ca(directory: str | os.PathLike[str]) -> TLSFiles:
    """Write a new CA and a server certificate for 127.0.0.1/localhost into `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(ca_key, now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_certificate(key, ca, ca_key, now)
    files = TLSFiles(ca=folder / CA_FILE, cert=folder / CERT_FILE, key=folder / KEY_FILE)
    _write_private(files.ca, _pem(ca))
    _write_private(files.cert, _pem(cert))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(files.key, key_pem)
    # The CA's key is not kept: nothing else can ever be signed with it.
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sandbox.tls DIR", file=sys.stderr)
        return 2
    files = throwaway_ca(args[0])
    print(f"ca={files.ca}")
    print(f"cert={files.cert}")
    print(f"key={files.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
