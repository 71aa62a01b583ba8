"""The one session factory for every outbound call to Tesla (and the sandbox emulator).

Every request gets a timeout and an honest User-Agent; nothing retries inside the session,
because retry policy (backoff, idempotency, single-use refresh tokens) belongs to callers.

A session keeps its connections alive, so callers should keep one session per thread rather
than one per call; and every session of a process verifies TLS with one SSL context per CA
bundle, built once. requests' own adapter hands urllib3 the bundle's path, so each new
connection parses the whole bundle again (about 20 ms of CPU for certifi's 150 roots).
"""

from __future__ import annotations

import os
import re
import ssl
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_USER_AGENT",
    "SharedContextAdapter",
    "TimeoutSession",
    "make_session",
    "tls_context",
]


def _version() -> str:
    try:
        return version("fleetportal")
    except PackageNotFoundError:  # running from a checkout that is not pip-installed
        return "dev"


# China's Akamai WAF in front of auth.tesla.cn answers 403 to crawler-like or library-default
# User-Agents (§7), so every request names the product.
DEFAULT_USER_AGENT = f"FleetPortal/{_version()} (+self-hosted)"
DEFAULT_TIMEOUT: tuple[float, float] = (5, 20)  # (connect, read) seconds


class TimeoutSession(requests.Session):
    """A Session whose requests always carry a timeout: requests' own default is none."""

    def __init__(self, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.default_timeout = timeout
        self._environ_proxies: dict[tuple[str, str], dict[str, str]] = {}

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        # Positional order after url: params, data, headers, cookies, files, auth, timeout.
        if len(args) < 7 and kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if len(args) < 12 and kwargs.get("verify") is None and self.verify is not True:
            # A CA bundle set on the session must win: requests otherwise lets
            # REQUESTS_CA_BUNDLE from the environment override `Session.verify`.
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        """requests' own, with the proxy variables looked up once per scheme and host for the
        session's life instead of on every request (a scan of the whole environment and of
        `no_proxy`: about a third of a warm call's CPU). A process's environment does not
        change under its sessions."""
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = urlsplit(url)[:2]
        found = self._environ_proxies.get(key)
        if found is None:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            found = self._environ_proxies[key] = get_environ_proxies(url, no_proxy=no_proxy)
        proxies = {**found, **(proxies or {})}
        if verify is True or verify is None:  # requests' (and cURL's) CA bundle variables
            environ = os.environ
            verify = environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


_contexts: dict[str, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(ca_bundle: str = DEFAULT_CA_BUNDLE_PATH) -> ssl.SSLContext:
    """The process's one client SSL context for a CA bundle (a file or a directory): certificate
    and host name checks on, the bundle parsed once. SSLContext is safe to share between
    threads and connections."""
    context = _contexts.get(ca_bundle)  # every request asks: no file system call then
    if context is not None:
        return context
    with _contexts_lock:
        key = os.path.realpath(ca_bundle)
        context = _contexts.get(key)
        if context is None:
            if os.path.isdir(key):
                context = ssl.create_default_context(capath=key)
            else:
                context = ssl.create_default_context(cafile=key)
            _contexts[key] = context
        _contexts[ca_bundle] = context
    return context


class SharedContextAdapter(HTTPAdapter):
    """An adapter whose HTTPS connections verify with `tls_context()` for the session's
    `verify` (True: requests' CA bundle, certifi's; a path: that bundle) instead of loading the
    bundle on every new connection. `verify=False` keeps requests' own behaviour."""

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # requests is handed `True` for a bundle path: given the path, it would look it up on
        # the file system on every request, to hand urllib3 a file to load.
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, True if verify else verify, cert
        )
        if host_params.get("scheme") == "https" and verify:
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = tls_context(
                DEFAULT_CA_BUNDLE_PATH if verify is True else verify
            )
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        if url.lower().startswith("https") and verify and not cert:
            # The pool's context holds the bundle (loaded, so known to exist, by tls_context):
            # requests' own check would look the path up on the file system for every request.
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = None
            conn.ca_cert_dir = None
            return
        super().cert_verify(conn, url, verify, cert)
        if url.lower().startswith("https") and verify:
            # The pool's context already holds the bundle: a path here would make urllib3
            # load it into the shared context again on every new connection.
            conn.ca_certs = None
            conn.ca_cert_dir = None


def make_session(
    *,
    user_agent: str = DEFAULT_USER_AGENT,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> requests.Session:
    """A new session with default timeout, User-Agent, the process's shared TLS context and no
    transport-level retries. Keep it and reuse it: its connections stay open between calls."""
    session = TimeoutSession(timeout)
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    # requests' default is already zero retries; mount explicitly so nobody "fixes" it here:
    # a silently retried token refresh would burn a single-use refresh token (§2.4).
    adapter = SharedContextAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


_RETRY_IN_TEXT = re.compile(r"retry in (\d+) seconds", re.IGNORECASE)


def parse_retry_after(value: str | None, *, body_text: str = "") -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), else from "Retry in N seconds".

    Tesla sends delta seconds on 429 (§4.5); a body text form was also observed.
    """
    if value:
        value = value.strip()
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    match = _RETRY_IN_TEXT.search(body_text)
    return float(match.group(1)) if match else None
