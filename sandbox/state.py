"""The sandbox world: one JSON-serialisable dict guarded by one lock.

Everything the emulator knows (clients, users, vehicles, token chains, partner
registrations, telemetry configs, clock offset, faults, settings, request log) lives in
`World.data`. Mutations go through `World.transaction()`, which holds the lock and, when a
state directory is configured, rewrites `state.json` atomically afterwards. The RSA signing
key and every token chain are part of that file, so restarting the sandbox under
`make run` does not invalidate tokens the portal holds.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox import seed
from sandbox.counters import Counters

STATE_FILE = "state.json"
REQUEST_LOG_CAP = 500
DEFAULT_SETTINGS: dict[str, Any] = {
    # §4.4: 408 is documented, 500/503 observed; 503 can be chosen per world.
    "offline_status": 408,
    # §5.1: sync takes "minutes to hours"; the car picks a config up this many sandbox
    # seconds after the push, and only while online.
    "telemetry_sync_delay": 60.0,
    # §5.3 CONFLICT (3 vs 5 apps per car): the stricter 3.
    "max_configs": 3,
    # Seconds (sandbox clock) an asleep car needs after wake_up before it is online.
    "wake_delay": 5.0,
    # §2.4 CONFLICT: the 2024 announcement says a refresh also kills the access tokens
    # of the previous refresh token; the stricter reading is the default.
    "revoke_access_on_refresh": True,
    # Added to every non-control request, in seconds.
    "latency": 0.0,
    # How the vehicle list writes `pagination.next`: "number" (2) or "string" ("2"). Tesla
    # documents no type for it (§4.2), so clients are tested against both.
    "pagination_next": "number",
    # The stream (sandbox/stream.py), in sim seconds: a parked car falls asleep (and
    # disconnects) after this long and sleeps this long; 0 = cars never sleep.
    "stream_sleep_after": 1800.0,
    "stream_sleep_for": 1800.0,
}

Data = dict[str, Any]


def token_hash(token: str) -> str:
    """Key tokens by digest so the state file never holds a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    # Never Tesla's real `ta-secret.` format: the repo's secret scanner flags it.
    return "sbx_" + secrets.token_hex(24)


def new_signing_key() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Tesla's kid looks like 27 url-safe characters (§2.7): a SHA-1 thumbprint does.
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")  # noqa: S324
    return {"private_pem": pem, "kid": kid}


class World:
    """The sandbox state with its lock, clock and persistence."""

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.state_dir = Path(state_dir) if state_dir else None
        self._signing_cache: tuple[str, Any] | None = None
        # Outside `data` and its lock: counted on every request, never persisted.
        self.counters = Counters()
        # Bumped by a reset (`epoch`) and by clearing the request log (`log_epoch`): a request
        # still in flight from before (a test's delayed call) neither counts nor logs after.
        self.epoch = 0
        self.log_epoch = 0
        loaded = self._load()
        if loaded is None:
            loaded = self._fresh(signing_key=new_signing_key(), secrets_by_client={})
            self.data = loaded
            self._save()
        else:
            self.data = loaded

    # -- persistence -------------------------------------------------------------------

    def _path(self) -> Path | None:
        return self.state_dir / STATE_FILE if self.state_dir else None

    def _load(self) -> Data | None:
        path = self._path()
        if path is None or not path.exists():
            return None
        return json.loads(path.read_text())

    def save(self) -> None:
        """Persist now; callers hold the lock (used by read-mostly paths that rarely write)."""
        with self.lock:
            self._save()

    def _save(self) -> None:
        path = self._path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a crash never leaves a half-written world (and tokens) behind.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.data, fh, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def _fresh(
        self,
        *,
        signing_key: dict[str, str],
        secrets_by_client: dict[str, str],
        redirects_by_client: dict[str, list[str]] | None = None,
    ) -> Data:
        data = seed.build_world()
        for client_id, client in data["clients"].items():
            client["secret"] = secrets_by_client.get(client_id) or new_secret()
            if redirects_by_client and client_id in redirects_by_client:
                client["redirect_uris"] = list(redirects_by_client[client_id])
        data.update(
            signing_key=signing_key,
            settings=copy.deepcopy(DEFAULT_SETTINGS),
            clock_offset=0.0,
            codes={},
            chains={},
            refresh_index={},
            access_index={},
            partners={"NA": {}, "EU": {}, "CN": {}},
            faults=[],
            request_log=[],
            # Per-VIN stream controls: silenced, dropped fields, fields sent as strings.
            stream={"vehicles": {}},
        )
        return data

    @contextmanager
    def transaction(self) -> Iterator[Data]:
        """Hold the lock, yield the data and persist it afterwards (even on an early return)."""
        with self.lock:
            try:
                yield self.data
            finally:
                self._save()

    @contextmanager
    def read(self) -> Iterator[Data]:
        with self.lock:
            yield self.data

    def serve_portal_on(self, port: int) -> None:
        """Point the demo clients' redirect URIs at a portal on this port (`--portal-port`)."""
        with self.transaction() as data:
            for client in data["clients"].values():
                if client.get("seeded", False):
                    client["redirect_uris"] = seed.demo_redirect_uris(port)

    def reset(self) -> None:
        """Back to the seed, keeping the signing key, the demo clients' secrets and redirect URIs.

        Keeping them means a reset does not break a portal `.env` written by --print-env, nor
        a portal moved to another port (`--portal-port`).
        """
        with self.transaction() as data:
            seeded = [c for c in data["clients"].values() if c.get("seeded", False)]
            fresh = self._fresh(
                signing_key=data["signing_key"],
                secrets_by_client={c["client_id"]: c["secret"] for c in seeded},
                redirects_by_client={c["client_id"]: c["redirect_uris"] for c in seeded},
            )
            data.clear()
            data.update(fresh)
            self.counters.reset()
            self.epoch += 1
            self.log_epoch += 1

    # -- clock -------------------------------------------------------------------------

    def now(self) -> float:
        """The sandbox clock: wall time plus the offset moved by the control API."""
        with self.lock:  # reset() swaps the data dict's contents under the lock
            return time.time() + self.data["clock_offset"]

    def iso_now(self) -> str:
        return iso(self.now())

    # -- signing key -------------------------------------------------------------------

    def signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        pem = self.data["signing_key"]["private_pem"]
        if self._signing_cache is None or self._signing_cache[0] != pem:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            self._signing_cache = (pem, key)
        return self.data["signing_key"]["kid"], self._signing_cache[1]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def new_txid() -> str:
    return uuid.uuid4().hex
