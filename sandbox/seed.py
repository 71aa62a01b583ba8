"""The seeded world: demo Tesla users, their vehicles and the demo client applications.

Ids are deterministic (uuid5 / fixed VINs) so tests and docs can name them; client secrets
and the RSA signing key are generated at first start by `sandbox.state` and persisted.
"""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = uuid.UUID("6f0d5c2e-4b1a-4f57-9a53-3c1f7d0c2a11")

# Which Fleet regions each authorization server serves (§1.1: global = NA + EU).
SERVER_REGIONS: dict[str, tuple[str, ...]] = {"global": ("NA", "EU"), "cn": ("CN",)}
REGION_SERVER: dict[str, str] = {r: s for s, rs in SERVER_REGIONS.items() for r in rs}

# The development portal's port (`make run`); `--portal-port` moves the demo clients along.
DEFAULT_PORTAL_PORT = 8000


def demo_redirect_uris(portal_port: int = DEFAULT_PORTAL_PORT) -> list[str]:
    """The demo clients' redirect URIs: a portal on 127.0.0.1 or localhost at that port."""
    return [
        f"http://{host}:{portal_port}/accounts/{provider}/login/callback/"
        for provider in ("tesla", "tesla_cn")
        for host in ("127.0.0.1", "localhost")
    ]


DEMO_REDIRECT_URIS = demo_redirect_uris()
DEMO_ALLOWED_ORIGINS = ["127.0.0.1", "localhost"]

CHINA_MODEL_3_VIN = "LRW3E7FS0RC257863"


def stable_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


def demo_client_id(server: str) -> str:
    return stable_id(f"client:{server}")


def user_id(email: str) -> str:
    return stable_id(f"user:{email}")


# email, full name, region, locale
USERS: list[tuple[str, str, str, str]] = [
    ("alice@example.com", "Alice Anderson", "NA", "en-US"),
    ("bob@example.com", "Bob Brown", "NA", "en-US"),
    ("nora@example.com", "Nora Nobody", "NA", "en-US"),
    ("erika@example.de", "Erika Mustermann", "EU", "de-DE"),
    ("wei@example.cn", "Wang Wei", "CN", "zh-CN"),
]

# vin, model, year, firmware, state, {email: access_type}, display name, legacy hardware
VEHICLES: list[tuple[str, str, int, str, str, dict[str, str], str, bool]] = [
    (
        "5YJ3E1EA7PF000001",
        "Model 3",
        2023,
        "2025.20.6",
        "online",
        {"alice@example.com": "OWNER"},
        "Alice's Model 3",
        False,
    ),
    (
        "7SAYGDEE9RF000002",
        "Model Y",
        2024,
        "2025.14.3",
        "asleep",
        {"alice@example.com": "OWNER"},
        "Sleepy Y",
        False,
    ),
    (
        # Pre-2021 Model S with the Intel Atom MCU: unsupported_hardware (§5.1, §5.4).
        "5YJSA1E26KF000003",
        "Model S",
        2019,
        "2024.44.25",
        "online",
        {"alice@example.com": "OWNER"},
        "Old Faithful",
        True,
    ),
    (
        # Firmware below 2024.26: unsupported_firmware for JWS configs (§5.1, §5.4).
        "5YJXCBE20NF000004",
        "Model X",
        2022,
        "2024.8.9",
        "online",
        {"alice@example.com": "OWNER"},
        "Stale X",
        False,
    ),
    (
        # Bob only drives this car: DRIVER access (§4.2 notes, telemetry 404).
        "5YJ3E1EB5NF000005",
        "Model 3",
        2022,
        "2025.20.6",
        "online",
        {"alice@example.com": "OWNER", "bob@example.com": "DRIVER"},
        "Shared 3",
        False,
    ),
    (
        "XP7YGCEK0PB000006",
        "Model Y",
        2023,
        "2025.20.6",
        "online",
        {"erika@example.de": "OWNER"},
        "Berlin Y",
        False,
    ),
    (
        "LRW3E7EK1NC000007",
        "Model 3",
        2022,
        "2025.14.3",
        "offline",
        {"erika@example.de": "OWNER"},
        "Garage 3",
        False,
    ),
    (
        CHINA_MODEL_3_VIN,
        "Model 3",
        2024,
        "2025.20.6",
        "online",
        {"wei@example.cn": "OWNER"},
        "Shanghai 3",
        False,
    ),
    (
        "LRWYGCEK8PC000008",
        "Model Y",
        2023,
        "2025.14.3",
        "asleep",
        {"wei@example.cn": "OWNER"},
        "Shanghai Y",
        False,
    ),
]


def make_vehicle(
    *,
    number: int,
    vin: str,
    model: str,
    year: int,
    firmware: str,
    state: str,
    access: dict[str, str],
    display_name: str,
    legacy_hardware: bool = False,
    region: str,
) -> dict[str, Any]:
    return {
        # Tesla ids can exceed 2^53 (§4.2: use id_s); these do too.
        "id": 3_744_000_000_000_000_000 + number,
        "vehicle_id": 1_492_000_000 + number,
        "vin": vin,
        "model": model,
        "year": year,
        "firmware": firmware,
        "state": state,
        "wake_at": None,
        "access": access,
        "display_name": display_name,
        "legacy_hardware": legacy_hardware,
        # Intel Atom S/X (fw >= 2025.20): the owner's "Allow Third-Party App Data Streaming"
        # on the Safety screen (§3.4); off until the owner turns it on.
        "safety_screen_streaming": False,
        "region": region,
        # domain -> public key hex paired on the car (§3.4)
        "paired_keys": {},
        # client_id -> telemetry config record (§5.4)
        "telemetry": {},
        "telemetry_errors": [],
    }


def build_world() -> dict[str, Any]:
    """The seed, minus secrets and keys (state.World adds those)."""
    users: dict[str, Any] = {}
    by_email: dict[str, str] = {}
    for email, name, region, locale in USERS:
        uid = user_id(email)
        by_email[email] = uid
        users[uid] = {
            "id": uid,
            "email": email,
            "full_name": name,
            "region": region,
            "server": REGION_SERVER[region],
            "locale": locale,
        }
    vehicles: dict[str, Any] = {}
    for number, (vin, model, year, fw, state, access, name, legacy) in enumerate(VEHICLES, 1):
        uids = {by_email[e]: a for e, a in access.items()}
        region = users[next(iter(uids))]["region"]
        vehicles[vin] = make_vehicle(
            number=number,
            vin=vin,
            model=model,
            year=year,
            firmware=fw,
            state=state,
            access=uids,
            display_name=name,
            legacy_hardware=legacy,
            region=region,
        )
    clients = {
        demo_client_id(server): {
            "client_id": demo_client_id(server),
            "name": f"Fleet Portal demo ({server})",
            "server": server,
            "redirect_uris": list(DEMO_REDIRECT_URIS),
            "allowed_origins": list(DEMO_ALLOWED_ORIGINS),
            "seeded": True,
        }
        for server in SERVER_REGIONS
    }
    return {"users": users, "vehicles": vehicles, "clients": clients}
