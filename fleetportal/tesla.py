"""The glue between Django and the framework-free Tesla library, in one place.

Settings → the region table, the application's credentials per authorization server, which
allauth provider belongs to which server, the one HTTP session factory, and the only place a
`FleetClient` (with its bearer-token allowlist) is built. Apps import this module; nothing
else reads the TESLA_* settings or constructs a Tesla client.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass

import requests
from django.conf import settings

from teslafleet import regions
from teslafleet.fleet import FleetClient, FleetObserver
from teslafleet.http import make_session

# allauth provider id → authorization server key of the region table. The providers
# (accounts/providers/tesla), a link's provider id and the login buttons all read this.
PROVIDER_AUTH_SERVER = {"tesla": "global", "tesla_cn": "cn"}
AUTH_SERVER_PROVIDER = {server: provider for provider, server in PROVIDER_AUTH_SERVER.items()}


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    redirect_uri: str  # "" means: this portal's own callback URL

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


def provider_id(auth_server_key: str) -> str:
    """The allauth provider that links accounts of this authorization server."""
    return AUTH_SERVER_PROVIDER[auth_server_key]


def region_table() -> regions.RegionTable:
    """The table for TESLA_ENV, read at call time so tests can point it at a sandbox."""
    return regions.get_table(settings.TESLA_ENV, settings.TESLA_SANDBOX_URL)


def auth_server(auth_server_key: str) -> regions.AuthServer:
    return region_table().auth_server(auth_server_key)


def credentials(auth_server_key: str) -> ClientCredentials:
    """The application's credentials at one authorization server (global or China)."""
    if auth_server_key == "cn":
        return ClientCredentials(
            settings.TESLA_CN_CLIENT_ID,
            settings.TESLA_CN_CLIENT_SECRET,
            settings.TESLA_CN_REDIRECT_URI,
        )
    return ClientCredentials(
        settings.TESLA_CLIENT_ID, settings.TESLA_CLIENT_SECRET, settings.TESLA_REDIRECT_URI
    )


def credential_settings(auth_server_key: str) -> tuple[str, str]:
    """The names of the settings an operator must set for that server (for error pages)."""
    if auth_server_key == "cn":
        return ("TESLA_CN_CLIENT_ID", "TESLA_CN_CLIENT_SECRET")
    return ("TESLA_CLIENT_ID", "TESLA_CLIENT_SECRET")


def default_audience(auth_server_key: str) -> str:
    """The Fleet API audience asked for at code exchange: the server's first region.

    The global server's tokens carry every global region in `aud` (§2.7); the user's own
    region comes from /users/region right after, and a 421 re-routes if needed.
    """
    table = region_table()
    return table.region(table.auth_server(auth_server_key).region_codes[0]).base_url


class _ThreadSessions(threading.local):
    session: requests.Session | None = None
    pid: int = 0


_thread = _ThreadSessions()
# Every session this process made, to close them all at shutdown (a thread's session also
# goes when its thread ends).
_sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()


def http_session() -> requests.Session:
    """The calling thread's session for outbound Tesla calls (timeouts, User-Agent, the shared
    TLS context): one per thread and process, kept for the thread's life, so its connections
    stay alive from one call to the next. Callers borrow it and never close it.

    Per thread because a requests session is not safe to share between threads; per process
    because a session made before a fork would share its sockets with the child.
    """
    pid = os.getpid()
    if _thread.session is None or _thread.pid != pid:
        _thread.session = make_session(timeout=settings.TESLA_HTTP_TIMEOUT)
        _thread.pid = pid
        _sessions.add(_thread.session)
    # Read at every call, like every setting here (tests and operators may change it).
    _thread.session.default_timeout = settings.TESLA_HTTP_TIMEOUT
    _thread.session.verify = settings.TESLA_CA_BUNDLE or True
    return _thread.session


def http_session_release() -> None:
    """Close the calling thread's session, if it has one (a pool thread that ends)."""
    session, _thread.session = _thread.session, None
    if session is not None and _thread.pid == os.getpid():
        session.close()


def http_sessions_close() -> None:
    """Close every session of this process (worker shutdown); a later call makes a new one."""
    for session in list(_sessions):
        session.close()
    _sessions.clear()
    _thread.session = None


# What every FleetClient built here reports to: the usage app installs its counter and stop
# switch at start (usage/apps.py); until then (and in a bare library use) nothing watches.
_observer: FleetObserver | None = None


def fleet_observer_install(observer: FleetObserver | None) -> None:
    """Make `observer` watch every Fleet API request of this process (None: nothing does)."""
    global _observer
    _observer = observer


def user_fleet_client(*, base_url: str, access_token: str, auth_server_key: str) -> FleetClient:
    """A client for a Tesla user's token: it may only ever be sent to (and re-routed by a 421
    within) the Fleet API regions of the authorization server that minted it."""
    return FleetClient(
        base_url,
        access_token,
        allowed_base_urls=region_table().fleet_allowlist(auth_server_key),
        session=http_session(),
        observer=_observer,
    )


def partner_fleet_client(*, region: str, access_token: str) -> FleetClient:
    """A client for a partner token: minted for one region, so that region is its allowlist."""
    base_url = region_table().region(region).base_url
    return FleetClient(
        base_url,
        access_token,
        allowed_base_urls=frozenset({base_url}),
        session=http_session(),
        observer=_observer,
    )
