"""Where Tesla lives: authorization servers, Fleet API regions and pairing links.

One table for production (§1.1) and one for the local sandbox emulator. The
Fleet API base URL doubles as the token `audience` (§1.1, §2.1) and as the unit of
the bearer-token allowlist: a token minted by one authorization server may only ever be
sent to the Fleet API regions that server serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

__all__ = [
    "DEFAULT_SANDBOX_URL",
    "PRODUCTION",
    "AuthServer",
    "FleetRegion",
    "RegionTable",
    "get_table",
    "normalise_base_url",
    "sandbox_table",
]

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8001"


def normalise_base_url(url: str) -> str:
    """Lower-case scheme and host, drop trailing slashes: the form allowlists compare."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class AuthServer:
    """One Tesla authorization server (global or China) and the Fleet regions it serves."""

    key: str
    authorize_url: str
    token_url: str
    # The value Tesla appends as `issuer` to the OAuth callback (§1.3).
    issuer: str
    region_codes: tuple[str, ...]


@dataclass(frozen=True)
class FleetRegion:
    """One regional Fleet API deployment."""

    code: str
    base_url: str
    # Prefix of the virtual-key pairing link; the developer domain follows (§3.4).
    pairing_base: str

    @property
    def audience(self) -> str:
        # Tesla mints tokens for a Fleet API with the base URL itself as `audience` (§1.1).
        return self.base_url


@dataclass(frozen=True)
class RegionTable:
    """The auth servers and Fleet regions of one environment (production or sandbox)."""

    env: str
    auth_servers: tuple[AuthServer, ...]
    regions: tuple[FleetRegion, ...]

    def auth_server(self, key: str) -> AuthServer:
        for server in self.auth_servers:
            if server.key == key:
                return server
        raise KeyError(f"unknown Tesla auth server {key!r}")

    def region(self, code: str) -> FleetRegion:
        # `/users/region` answers lower case ("eu"), `ou_code` upper case ("EU") (§1.5, §2.7).
        wanted = code.upper()
        for region in self.regions:
            if region.code == wanted:
                return region
        raise KeyError(f"unknown Fleet API region {code!r}")

    def regions_for(self, auth_server_key: str) -> tuple[FleetRegion, ...]:
        server = self.auth_server(auth_server_key)
        return tuple(self.region(code) for code in server.region_codes)

    def auth_server_for_region(self, code: str) -> AuthServer:
        wanted = self.region(code).code
        for server in self.auth_servers:
            if wanted in server.region_codes:
                return server
        raise KeyError(f"no auth server serves region {code!r}")

    def fleet_allowlist(self, auth_server_key: str) -> frozenset[str]:
        """Base URLs a bearer token of this auth server may ever be sent to."""
        return frozenset(
            normalise_base_url(region.base_url) for region in self.regions_for(auth_server_key)
        )

    def region_for_base_url(self, url: str) -> FleetRegion | None:
        wanted = normalise_base_url(url)
        for region in self.regions:
            if normalise_base_url(region.base_url) == wanted:
                return region
        return None

    def pairing_link(self, region_code: str, domain: str, vin: str | None = None) -> str:
        """The link that opens the Tesla app to add the portal's virtual key (§3.4)."""
        link = f"{self.region(region_code).pairing_base}{quote(domain.lower(), safe='.-')}"
        if vin:
            link += f"?vin={quote(vin, safe='')}"
        return link


PRODUCTION = RegionTable(
    env="production",
    auth_servers=(
        AuthServer(
            key="global",
            # Every live copy of Tesla's docs and every client checked authorize on
            # auth.tesla.com; one newer copy shows fleet-auth (§1.1, §8.1).
            authorize_url="https://auth.tesla.com/oauth2/v3/authorize",
            # Partners must use fleet-auth for token exchange since August 2025 (§1.1).
            token_url="https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token",
            issuer="https://auth.tesla.com/oauth2/v3",
            region_codes=("NA", "EU"),
        ),
        AuthServer(
            key="cn",
            authorize_url="https://auth.tesla.cn/oauth2/v3/authorize",
            token_url="https://auth.tesla.cn/oauth2/v3/token",
            issuer="https://auth.tesla.cn/oauth2/v3",
            region_codes=("CN",),
        ),
    ),
    regions=(
        FleetRegion(
            code="NA",
            base_url="https://fleet-api.prd.na.vn.cloud.tesla.com",
            pairing_base="https://tesla.com/_ak/",
        ),
        FleetRegion(
            code="EU",
            base_url="https://fleet-api.prd.eu.vn.cloud.tesla.com",
            pairing_base="https://tesla.com/_ak/",
        ),
        FleetRegion(
            code="CN",
            base_url="https://fleet-api.prd.cn.vn.cloud.tesla.cn",
            # UNVERIFIED (§3.4, §7): only community code uses www.tesla.cn/_ak/; Tesla
            # publishes no China pairing page. Re-check before relying on it.
            pairing_base="https://www.tesla.cn/_ak/",
        ),
    ),
)


def sandbox_table(root: str = DEFAULT_SANDBOX_URL) -> RegionTable:
    """The emulator's layout: `{root}/auth/<key>/oauth2/v3/...`, `{root}/fleet/<region>`."""
    root = normalise_base_url(root)

    def auth(key: str, codes: tuple[str, ...]) -> AuthServer:
        issuer = f"{root}/auth/{key}/oauth2/v3"
        return AuthServer(
            key=key,
            authorize_url=f"{issuer}/authorize",
            token_url=f"{issuer}/token",
            issuer=issuer,
            region_codes=codes,
        )

    def fleet(code: str) -> FleetRegion:
        return FleetRegion(
            code=code, base_url=f"{root}/fleet/{code.lower()}", pairing_base=f"{root}/_ak/"
        )

    return RegionTable(
        env="sandbox",
        auth_servers=(auth("global", ("NA", "EU")), auth("cn", ("CN",))),
        regions=(fleet("NA"), fleet("EU"), fleet("CN")),
    )


def get_table(env: str, sandbox_url: str = DEFAULT_SANDBOX_URL) -> RegionTable:
    """The region table for the TESLA_ENV setting ("production" or "sandbox")."""
    if env == "production":
        return PRODUCTION
    if env == "sandbox":
        return sandbox_table(sandbox_url)
    raise ValueError(f"TESLA_ENV must be 'production' or 'sandbox', not {env!r}")
