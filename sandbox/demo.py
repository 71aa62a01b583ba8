"""The manual seed workflow end to end against the Tesla sandbox.

    python -m sandbox.demo [--sandbox-url URL] [--embedded] [--keep-config]

Every Tesla call goes through `teslafleet`; plain HTTP is used only for what a human
does in a browser (the consent form, the `/_ak/<domain>` pairing page) and for the sandbox's
control API (a fresh client application, the clock/pickup hook). Like the seed workflow this
runs in the China region: auth server `cn`, Fleet API `CN`, user wei@example.cn, VIN
LRW3E7FS0RC257863. Each step prints one numbered line; tokens appear only as their first
8 characters, the client secret never.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.testing import Control, ControlError, consent, running_sandbox
from teslafleet import jws, oauth
from teslafleet.fleet import FleetClient, VehicleInfo
from teslafleet.http import make_session
from teslafleet.regions import DEFAULT_SANDBOX_URL, RegionTable, sandbox_table

__all__ = [
    "PUBLIC_KEY_PATH",
    "DemoError",
    "hosted_public_key",
    "main",
    "self_signed_ca_pem",
    "short",
]

SERVER = "cn"  # the seed workflow's user is in China (auth.tesla.cn)
REGION = "CN"
USER = "wei@example.cn"
VIN = "LRW3E7FS0RC257863"
# The seed workflow's exact scope list, in its order: Tesla China accepted it, and so does
# the sandbox's China server (`vehicle_specs` included; sandbox/README.md).
SCOPES: tuple[str, ...] = (
    "openid",
    "user_data",
    "vehicle_device_data",
    "vehicle_cmds",
    "vehicle_charging_cmds",
    "offline_access",
    "vehicle_location",
    "vehicle_specs",
)
PUBLIC_KEY_PATH = "/.well-known/appspecific/com.tesla.3p.public-key.pem"
TELEMETRY_PORT = 4443
TELEMETRY_FIELDS: dict[str, dict[str, int]] = {
    "VehicleSpeed": {"interval_seconds": 10},
    "Soc": {"interval_seconds": 60},
    "Odometer": {"interval_seconds": 300},
}
BROWSER_TIMEOUT = 10


class DemoError(RuntimeError):
    """A step's result was not what the workflow expects."""


def short(secret: str | None) -> str:
    """What may be printed about a token: its first 8 characters."""
    return f"{secret[:8]}…" if secret else "(none)"


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoError(message)


# --- the developer's side: key pair, hosted public key, telemetry CA -------------------------


def public_pem(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_hex(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The form Tesla reports keys in: hex of the 65-byte uncompressed point (§3.2)."""
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point.hex()


@contextmanager
def hosted_public_key(pem: bytes) -> Iterator[str]:
    """Serve `pem` at PUBLIC_KEY_PATH on a free 127.0.0.1 port; yields the domain host:port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path != PUBLIC_KEY_PATH:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-pem-file")
            self.send_header("Content-Length", str(len(pem)))
            self.end_headers()
            self.wfile.write(pem)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # keep the demo's output to its numbered lines

    # Threaded: the sandbox fetches the key while our own register request is in flight.
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name="demo-key-host", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def self_signed_ca_pem(hostname: str) -> str:
    """A throwaway self-signed certificate: the `ca` a car would pin for our telemetry host."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- the user's side: what a browser would do ------------------------------------------------


def consent_as(browser: requests.Session, authorize_url: str, user: str) -> dict[str, str]:
    """Open the consent page, sign in as `user`, allow every requested scope; the callback query."""
    try:
        location = consent(authorize_url, user, session=browser)
    except ControlError as exc:
        raise DemoError(str(exc)) from exc
    query = parse_qs(urlsplit(location).query)
    return {key: values[0] for key, values in query.items()}


def approve_pairing(browser: requests.Session, link: str) -> str:
    """Open the `/_ak/<domain>?vin=` page and press Approve, as the Tesla app would."""
    page = browser.get(link, timeout=BROWSER_TIMEOUT)
    _expect(page.status_code == 200, f"pairing page answered {page.status_code}")
    vin = parse_qs(urlsplit(link).query).get("vin", [""])[0]
    answer = browser.post(
        link, data={"vin": vin, "action": "approve"}, allow_redirects=False, timeout=BROWSER_TIMEOUT
    )
    _expect(answer.status_code == 200, f"pairing approval answered {answer.status_code}")
    _expect("added" in answer.text, "pairing page did not confirm the key")
    return vin


# --- the workflow ----------------------------------------------------------------------------


class SeedWorkflow:
    """The seed workflow's steps in order; each returns the line to print."""

    def __init__(self, sandbox_url: str, *, keep_config: bool = False) -> None:
        self.sandbox_url = sandbox_url.rstrip("/")
        self.keep_config = keep_config
        self.table: RegionTable = sandbox_table(self.sandbox_url)
        self.server = self.table.auth_server(SERVER)
        self.region = self.table.region(REGION)
        self.allowlist = self.table.fleet_allowlist(SERVER)
        self.control = Control(self.sandbox_url)
        self.http = make_session()  # every Tesla call
        self.browser = requests.Session()  # the human's browser only
        self.stack = ExitStack()
        # Filled in by the steps, in order.
        self.private_key: ec.EllipticCurvePrivateKey
        self.domain: str
        self.redirect_uri: str
        self.client_id: str
        self.client_secret: str
        self.partner: oauth.TokenSet
        self.state: str
        self.verifier: str
        self.authorize_url: str
        self.code: str
        self.tokens: oauth.TokenSet
        self.claims: dict[str, Any]
        self.token: str

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("sandbox", self.check_sandbox),
            ("key pair", self.generate_key),
            ("public key hosted", self.host_key),
            ("client application", self.register_client),
            ("partner token", self.get_partner_token),
            ("partner registered", self.register_partner),
            ("partner public key", self.check_public_key),
            ("authorize URL", self.build_authorize),
            ("consent", self.consent),
            ("code exchange", self.exchange),
            ("token claims", self.show_claims),
            ("users/region", self.user_region),
            ("refresh 1", self.refresh),
            ("refresh 2", self.refresh),
            ("vehicles", self.list_vehicles),
            ("virtual key pairing", self.pair_key),
            ("fleet_status", self.fleet_status),
            ("telemetry config signed", self.sign_config),
            ("telemetry config pushed", self.push_config),
            ("telemetry config read back", self.read_pending),
            ("car picks up config", self.pick_up),
            ("telemetry config synced", self.read_synced),
            ("telemetry errors", self.read_errors),
            ("cleanup", self.cleanup),
        ]

    def close(self) -> None:
        self.stack.close()
        self.http.close()
        self.browser.close()
        self.control.session.close()

    def user_client(self) -> FleetClient:
        # Rebuilt from the newest access token: a refresh revokes the older ones (§2.4).
        return FleetClient(
            self.region.base_url,
            self.tokens.access_token,
            allowed_base_urls=self.allowlist,
            session=self.http,
        )

    # -- steps --

    def check_sandbox(self) -> str:
        try:
            world = self.control.world()
        except requests.RequestException as exc:
            raise DemoError(
                f"no sandbox answers at {self.sandbox_url} ({type(exc).__name__}): start one "
                "with `python -m sandbox` or run the demo with --embedded"
            ) from exc
        return (
            f"{self.sandbox_url} ({len(world['users'])} users, "
            f"{len(world['vehicles'])} vehicles, Fleet API {self.region.base_url})"
        )

    def generate_key(self) -> str:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        return f"EC P-256 in memory, public point {public_hex(self.private_key)[:16]}…"

    def host_key(self) -> str:
        self.domain = self.stack.enter_context(hosted_public_key(public_pem(self.private_key)))
        url = f"http://{self.domain}{PUBLIC_KEY_PATH}"
        served = self.browser.get(url, timeout=BROWSER_TIMEOUT)
        _expect(served.content == public_pem(self.private_key), f"{url} does not serve our key")
        return f"{url} (domain {self.domain})"

    def register_client(self) -> str:
        # A fresh app per run keeps a shared sandbox's demo client (the portal's) untouched.
        self.redirect_uri = f"http://{self.domain}/callback"
        created = self.control.register_client(
            server=SERVER,
            redirect_uris=[self.redirect_uri],
            allowed_origins=[f"http://{self.domain.partition(':')[0]}"],
            name="Seed workflow demo",
        )
        self.client_id, self.client_secret = created["client_id"], created["client_secret"]
        return f"client_id {self.client_id} on the {SERVER} auth server (secret not shown)"

    def get_partner_token(self) -> str:
        self.partner = oauth.partner_token(
            self.server,
            client_id=self.client_id,
            client_secret=self.client_secret,
            audience=self.region.audience,
            session=self.http,
        )
        claims = self.partner.claims
        _expect(claims.sub == self.client_id, f"partner token sub is {claims.sub}")
        return (
            f"{short(self.partner.access_token)} from {self.server.token_url}; "
            f"sub={claims.sub} aud={list(claims.aud)} scp={list(claims.scp)}"
        )

    def partner_client(self) -> FleetClient:
        return FleetClient(
            self.region.base_url,
            self.partner.access_token,
            allowed_base_urls=self.allowlist,
            session=self.http,
        )

    def register_partner(self) -> str:
        record = self.partner_client().partner_register(self.domain)
        _expect(record.get("domain") == self.domain, f"registered domain {record.get('domain')}")
        return (
            f"{self.domain} in {REGION}, public_key {str(record.get('public_key'))[:16]}…, "
            f"tier {record.get('enterprise_tier')}"
        )

    def check_public_key(self) -> str:
        held = self.partner_client().partner_public_key(self.domain).public_key
        ours = public_hex(self.private_key)
        _expect(held == ours, f"Tesla holds {str(held)[:16]}…, ours is {ours[:16]}…")
        return f"{str(held)[:16]}… matches our key"

    def build_authorize(self) -> str:
        self.verifier, challenge = oauth.pkce_pair()
        self.state = secrets.token_urlsafe(16)
        self.authorize_url = oauth.build_authorize_url(
            self.server,
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scopes=SCOPES,
            state=self.state,
            code_challenge=challenge,
            prompt="login",
            locale="zh-CN",
        )
        return f"{self.server.authorize_url} (PKCE S256, state {short(self.state)}, prompt=login)"

    def consent(self) -> str:
        callback = consent_as(self.browser, self.authorize_url, USER)
        _expect("error" not in callback, f"consent refused: {callback.get('error_description')}")
        # The callback must answer *our* request (state) from the server we sent it to
        # (issuer, §1.3): otherwise the code could be an attacker's or another region's.
        _expect(callback.get("state") == self.state, "callback state does not match ours")
        _expect(
            callback.get("issuer") == self.server.issuer,
            f"callback issuer {callback.get('issuer')} is not {self.server.issuer}",
        )
        self.code = callback.get("code", "")
        _expect(bool(self.code), "callback carries no code")
        return (
            f"{USER} allowed {len(SCOPES)} scopes; code {short(self.code)}, state ok, "
            f"issuer {callback['issuer']}, locale {callback.get('locale')}"
        )

    def exchange(self) -> str:
        self.tokens = oauth.exchange_code(
            self.server,
            client_id=self.client_id,
            client_secret=self.client_secret,
            code=self.code,
            redirect_uri=self.redirect_uri,
            audience=self.region.audience,
            code_verifier=self.verifier,
            session=self.http,
        )
        _expect(self.tokens.refresh_token is not None, "no refresh token (offline_access?)")
        return (
            f"access {short(self.tokens.access_token)} refresh {short(self.tokens.refresh_token)} "
            f"id_token {short(self.tokens.id_token)} expires_in {self.tokens.expires_in}s"
        )

    def show_claims(self) -> str:
        claims = self.tokens.claims
        _expect(claims.ou_code == REGION, f"ou_code is {claims.ou_code}, expected {REGION}")
        _expect(self.region.audience in claims.aud, f"aud {claims.aud} lacks our Fleet API")
        missing = sorted(set(SCOPES) - set(claims.scp))
        _expect(not missing, f"scopes not granted: {missing}")
        return f"sub={claims.sub} ou_code={claims.ou_code} scp={list(claims.scp)}"

    def user_region(self) -> str:
        answer = self.user_client().user_region()
        _expect(answer.region.upper() == REGION, f"users/region says {answer.region}")
        _expect(
            answer.fleet_api_base_url == self.region.base_url,
            f"users/region points at {answer.fleet_api_base_url}",
        )
        return f"region={answer.region} fleet_api_base_url={answer.fleet_api_base_url}"

    def refresh(self) -> str:
        old = self.tokens
        if old.refresh_token is None:
            raise DemoError("no refresh token to rotate")
        self.tokens = oauth.refresh(
            self.server,
            client_id=self.client_id,
            refresh_token=old.refresh_token,
            session=self.http,
        )
        _expect(self.tokens.refresh_token not in (None, old.refresh_token), "not rotated")
        _expect(self.tokens.access_token != old.access_token, "same access token")
        return (
            f"refresh {short(old.refresh_token)} -> {short(self.tokens.refresh_token)} (rotated), "
            f"access {short(self.tokens.access_token)}"
        )

    def list_vehicles(self) -> str:
        vehicles = self.user_client().vehicles()
        vins = [str(v.get("vin")) for v in vehicles]
        _expect(VIN in vins, f"{VIN} not among {vins}")
        car = vehicles[vins.index(VIN)]
        return (
            f"{len(vehicles)} vehicle(s): {', '.join(vins)}; {VIN} is "
            f"{car.get('display_name')!r}, {car.get('state')}, id_s {car.get('id_s')}"
        )

    def pair_key(self) -> str:
        link = self.table.pairing_link(REGION, self.domain, VIN)
        approve_pairing(self.browser, link)
        return f"approved on {link}"

    def fleet_status(self) -> str:
        status = self.user_client().fleet_status([VIN])
        _expect(status.key_paired(VIN) is True, f"{VIN} not paired: {status}")
        info = status.vehicle_info.get(VIN) or VehicleInfo()
        return (
            f"key_paired_vins={sorted(status.key_paired_vins or ())}"
            f" firmware {info.firmware_version}"
            f" fleet_telemetry_version {info.fleet_telemetry_version}"
            f" keys {info.total_number_of_keys}"
        )

    def telemetry_claims(self) -> dict[str, Any]:
        # exp on the sandbox clock, which the control API may have moved past wall time.
        exp = int(self.control.now()) + 30 * 86400
        # hostname must share the registered domain's root (§5.3): here 127.0.0.1.
        hostname = self.domain.partition(":")[0]
        return {
            "hostname": hostname,
            "port": TELEMETRY_PORT,
            "ca": self_signed_ca_pem(hostname),
            "exp": exp,
            "alert_types": ["service"],
            "delivery_policy": "latest",
            "fields": TELEMETRY_FIELDS,
        }

    def sign_config(self) -> str:
        self.claims = self.telemetry_claims()
        self.token = jws.sign(self.private_key, self.claims)
        signed = jws.verify(self.token, self.private_key.public_key())
        return (
            f"Tesla.SS256 JWS {short(self.token)} ({len(self.token)} chars), "
            f"iss {str(signed['iss'])[:12]}…, aud {signed['aud']}, "
            f"fields {sorted(self.claims['fields'])}, exp {self.claims['exp']}"
        )

    def push_config(self) -> str:
        answer = self.user_client().fleet_telemetry_config_jws([VIN], self.token)
        skipped = {k: v for k, v in (answer.get("skipped_vehicles") or {}).items() if v}
        _expect(answer.get("updated_vehicles") == 1 and not skipped, f"push answered {answer}")
        return f"updated_vehicles={answer['updated_vehicles']} skipped_vehicles=none"

    def read_pending(self) -> str:
        answer = self.user_client().fleet_telemetry_config(VIN)
        _expect(answer.synced is False, f"synced is {answer.synced} before pickup")
        return f"synced={answer.synced} key_paired={answer.key_paired}"

    def pick_up(self) -> str:
        # The sandbox's stand-in for the car connecting to Tesla (§5.4 "next connects").
        picked = self.control.telemetry_pickup(VIN)
        _expect(self.client_id in picked, f"car picked up {picked}, not our config")
        return f"{VIN} connected and adopted the pending config"

    def read_synced(self) -> str:
        answer = self.user_client().fleet_telemetry_config(VIN)
        _expect(answer.synced is True, f"synced is {answer.synced} after pickup")
        expected = {
            **self.claims,
            "aud": jws.TELEMETRY_AUDIENCE,
            "iss": jws.issuer_for(self.private_key.public_key()),
        }
        config = answer.config
        _expect(config == expected, f"the car's config differs from ours: {config}")
        return f"synced=True, config matches ours ({len(config)} keys incl. aud/iss)"

    def read_errors(self) -> str:
        errors = self.user_client().fleet_telemetry_errors(VIN)
        _expect(not errors, f"the car reported {errors}")
        return "none reported"

    def cleanup(self) -> str:
        if self.keep_config:
            return "kept the config (--keep-config)"
        # A throwaway client per run would otherwise fill the car's 3 config slots.
        answer = self.user_client().fleet_telemetry_config_delete(VIN)
        return f"config deleted (updated_vehicles={answer.get('updated_vehicles')})"


def run(sandbox_url: str, *, keep_config: bool = False) -> int:
    """Run every step; stop at the first failure. 0 on success."""
    workflow = SeedWorkflow(sandbox_url, keep_config=keep_config)
    try:
        for number, (title, step) in enumerate(workflow.steps(), 1):
            try:
                result = step()
            except Exception as exc:  # every failure ends the demo with a readable line
                print(f"{number:2d}. {title}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                print(f"demo failed at step {number} ({title})", file=sys.stderr)
                return 1
            print(f"{number:2d}. {title}: {result}", flush=True)
    finally:
        workflow.close()
    print("seed workflow completed against the sandbox", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__)
    parser.add_argument(
        "--sandbox-url",
        default=DEFAULT_SANDBOX_URL,
        help=f"a running sandbox (python -m sandbox); default {DEFAULT_SANDBOX_URL}",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="start a fresh sandbox in this process instead of using --sandbox-url",
    )
    parser.add_argument(
        "--keep-config",
        action="store_true",
        help="leave the telemetry config on the car instead of deleting it at the end",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.embedded:
        with running_sandbox() as handle:
            return run(handle.url, keep_config=args.keep_config)
    return run(args.sandbox_url, keep_config=args.keep_config)


if __name__ == "__main__":
    sys.exit(main())
