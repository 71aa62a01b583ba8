"""The server under the app (sandbox/serving.py): keep-alive, concurrency, HTTPS, the CLI."""

from __future__ import annotations

import functools
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography import x509

from sandbox.testing import running_sandbox
from sandbox.tls import throwaway_ca

TIMEOUT = 10
ROOT = Path(__file__).resolve().parents[2]


def test_two_requests_share_one_connection(sandbox):
    host, port = sandbox.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request("GET", "/fleet/na/status")
        first = conn.getresponse()
        assert first.read() == b"ok"
        assert first.getheader("Connection", "").lower() != "close"
        assert not first.will_close
        sock = conn.sock
        # http.client silently reconnects when the server closed: the socket must be the same.
        conn.request("GET", "/fleet/eu/status")
        second = conn.getresponse()
        assert second.status == 200 and second.read() == b"ok"
        assert conn.sock is sock
        assert not second.will_close
    finally:
        conn.close()


def _wait_for_fault_taken(sandbox, fault_id: str) -> None:
    """The single-use fault leaves the list when a request takes it (before it sleeps)."""
    deadline = time.monotonic() + TIMEOUT
    while any(f["id"] == fault_id for f in sandbox.control._call("GET", "/faults")["faults"]):
        assert time.monotonic() < deadline, "the slow request never reached the sandbox"
        time.sleep(0.02)


def test_a_slow_request_does_not_hold_up_another_connection(sandbox):
    fault = sandbox.control.fault("na/status", latency=3, count=1)
    slow_done = threading.Event()

    def slow() -> int:
        try:
            return requests.get(f"{sandbox.fleet('na')}/status", timeout=TIMEOUT).status_code
        finally:
            slow_done.set()

    with ThreadPoolExecutor(max_workers=1) as pool:
        slow_status = pool.submit(slow)
        _wait_for_fault_taken(sandbox, fault["id"])
        quick = requests.get(f"{sandbox.fleet('eu')}/status", timeout=TIMEOUT)
        # Ordering, not speed: the second answer arrives while the first is still asleep.
        assert quick.status_code == 200
        assert not slow_done.is_set()
        assert slow_status.result() == 200


def test_https_with_the_throwaway_ca(tmp_path):
    files = throwaway_ca(tmp_path / "tls")
    other = throwaway_ca(tmp_path / "other")
    with running_sandbox(tls=files) as sb:
        assert sb.url.startswith("https://127.0.0.1:")
        resp = requests.get(f"{sb.url}/", verify=str(files.ca), timeout=TIMEOUT)
        assert resp.status_code == 200
        # Issued URLs name the scheme actually served.
        assert resp.json()["fleet"]["na"] == f"{sb.url}/fleet/na"
        assert sb.control.counters()["total"] == 0  # the control client trusts the CA too
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{sb.url}/", verify=str(other.ca), timeout=TIMEOUT)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{sb.url}/", timeout=TIMEOUT)  # the system store does not know it


def test_throwaway_certificate_names_loopback_and_is_private(tmp_path):
    files = throwaway_ca(tmp_path)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert cert.issuer == ca.subject
    for path in (files.ca, files.cert, files.key):
        assert path.stat().st_mode & 0o777 == 0o600


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    assert banner.startswith("Tesla sandbox on "), banner + (
        proc.stderr.read() if proc.stderr else ""
    )
    return proc, banner.split()[3]


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_cli_serves_tls_and_stops_on_sigterm(tmp_path):
    files = throwaway_ca(tmp_path)
    proc, url = _start("--tls-cert", str(files.cert), "--tls-key", str(files.key), "--threads", "4")
    try:
        assert url.startswith("https://127.0.0.1:")
        with requests.Session() as http:
            get = functools.partial(http.get, timeout=TIMEOUT, verify=str(files.ca))
            assert get(f"{url}/fleet/na/status").text == "ok"
            counts = get(f"{url}/control/counters").json()
        assert counts["fleet"]["GET /status"] == 1
    finally:
        code = _stop(proc)
    assert code == 0, proc.stderr.read() if proc.stderr else ""


def test_cli_needs_both_tls_files(tmp_path):
    files = throwaway_ca(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "0", "--tls-cert", str(files.cert)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2
    assert "--tls-cert and --tls-key go together" in done.stderr
