"""The well-known public key URL, fetched over real HTTP as Tesla fetches it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from partners import keys, services
from partners.selectors import PUBLIC_KEY_PATH

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_key_answers_404(live_server):
    response = requests.get(live_server.url + PUBLIC_KEY_PATH, timeout=10, allow_redirects=False)
    assert response.status_code == 404


def test_public_key_is_served_as_pkix_pem_with_200_and_no_redirect(live_server):
    key = services.partner_key_generate()
    response = requests.get(live_server.url + PUBLIC_KEY_PATH, timeout=10, allow_redirects=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-pem-file"
    assert response.text.startswith("-----BEGIN PUBLIC KEY-----\n")
    public = serialization.load_pem_public_key(response.content)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)
    assert keys.public_hex(public) == key.public_key_hex
    assert "PRIVATE" not in response.text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
def test_openssl_reads_the_downloaded_public_key(live_server, tmp_path):
    key = services.partner_key_generate()
    path = tmp_path / "com.tesla.3p.public-key.pem"
    path.write_bytes(requests.get(live_server.url + PUBLIC_KEY_PATH, timeout=10).content)
    result = subprocess.run(
        ["openssl", "ec", "-pubin", "-in", str(path), "-text", "-noout"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "prime256v1" in result.stdout or "P-256" in result.stdout
    # openssl prints the point as colon-separated hex over several lines.
    printed = "".join(
        line.strip() for line in result.stdout.split("pub:")[1].split("ASN1")[0].splitlines()
    ).replace(":", "")
    assert printed == key.public_key_hex


def test_public_key_url_needs_no_login_and_rejects_posts(client):
    services.partner_key_generate()
    assert client.get(PUBLIC_KEY_PATH).status_code == 200
    assert client.post(PUBLIC_KEY_PATH).status_code == 405


def test_head_on_the_public_key_url_answers_like_get_without_a_body(live_server):
    # Uptime probes and some fetchers ask HEAD first; it must not look like a missing route.
    key = services.partner_key_generate()
    url = live_server.url + PUBLIC_KEY_PATH
    head = requests.head(url, timeout=10, allow_redirects=False)
    get = requests.get(url, timeout=10, allow_redirects=False)
    assert head.status_code == get.status_code == 200
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/x-pem-file"
    assert head.headers["Cache-Control"] == get.headers["Cache-Control"]
    assert head.content == b""
    assert get.text == key.public_key_pem
