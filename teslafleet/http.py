"""The one session factory for every outbound call to Tesla (and the sandbox emulator).

Every request gets a timeout and an honest User-Agent; nothing retries inside the session,
because retry policy (backoff, idempotency, single-use refresh tokens) belongs to callers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests
from requests.adapters import HTTPAdapter

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_USER_AGENT", "TimeoutSession", "make_session"]


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

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        # Positional order after url: params, data, headers, cookies, files, auth, timeout.
        if len(args) < 7 and kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def make_session(
    *,
    user_agent: str = DEFAULT_USER_AGENT,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> requests.Session:
    """A new session with default timeout, User-Agent and no transport-level retries."""
    session = TimeoutSession(timeout)
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    # requests' default is already zero retries; mount explicitly so nobody "fixes" it here:
    # a silently retried token refresh would burn a single-use refresh token (§2.4).
    adapter = HTTPAdapter(max_retries=0)
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
