"""Writes for partner onboarding: the key pair, partner tokens, registration per region.

Tesla's flow (§3.1-3.3): serve the P-256 public key at the well-known URL, get a partner
(client-credentials) token per region, POST `partner_accounts` with the domain (Tesla then
fetches the key), and read `partner_accounts/public_key` back to see which key Tesla holds.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, TypeVar

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.apps import apps as django_apps
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fleetportal import hostnames, tesla
from fleetportal.mail import send_mail_in_their_language
from fleetportal.permissions import MANAGE_PARTNER, staff_holding
from partners import keys, selectors
from partners.keys import KeyRejected
from partners.models import PartnerAuditEntry, PartnerKey, PartnerRegistration, PartnerToken
from teslafleet import oauth
from teslafleet.errors import TeslaError, TransientError
from teslafleet.fleet import (
    FleetClient,
    MissingScopes,
    NotFound,
    NotRegisteredInRegion,
    TelemetryError,
    Unauthorized,
)

if TYPE_CHECKING:
    # The user model is accounts', a sibling app partners does not import: any user will do.
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = [
    "Actor",
    "Check",
    "command_actor",
    "KeyRejected",
    "PartnerKeyExists",
    "PartnerSetupError",
    "RegisterOutcome",
    "partner_key_generate",
    "partner_key_export",
    "partner_key_import",
    "partner_key_to_file",
    "partner_preflight",
    "partner_register",
    "partner_register_all",
    "partner_registration_check",
    "partner_telemetry_errors",
    "partner_token_get",
]

State = PartnerRegistration.State
Problem = PartnerRegistration.Problem
Action = PartnerAuditEntry.Action
Outcome = PartnerAuditEntry.Outcome
T = TypeVar("T")
# Who asks: a signed-in user (page, admin), or a description of a command line
# ("manage.py tesla_keygen (os user deploy)"). None is recorded as "system": code that named
# no actor, such as tests and scripts.
Actor: TypeAlias = "AbstractBaseUser | str | None"

# A cached partner token is replaced this long before it expires, so a call never starts
# with a token that dies on the way.
TOKEN_MARGIN = dt.timedelta(minutes=10)
# The pre-flight fetch of our own key URL: short, it runs while the staff page renders.
PREFLIGHT_TIMEOUT = (3.0, 5.0)


class PartnerSetupError(Exception):
    """Refused before any call to Tesla and before any write: the message says what to fix."""


class PartnerKeyExists(PartnerSetupError):
    """A key exists and replacing it was not confirmed."""


class Check(NamedTuple):
    """One pre-flight check, a (check, ok, message) tuple: `ok` is None when unknown."""

    check: str
    ok: bool | None
    message: str


@dataclass(frozen=True)
class RegisterOutcome:
    region: str
    registration: PartnerRegistration | None
    refused: str = ""


# --- the key pair ------------------------------------------------------------------------


def partner_key_generate(*, force: bool = False, actor: Actor = None) -> PartnerKey:
    """Create the application's P-256 key pair; replacing an existing one needs `force`."""
    return _key_store(keys.key_generate, force=force, actor=actor, action=Action.KEY_GENERATED)


def partner_key_import(*, pem: str | bytes, force: bool = False, actor: Actor = None) -> PartnerKey:
    """Take an existing SEC1 or PKCS#8 P-256 private key; anything else raises KeyRejected."""
    return _key_store(
        lambda: keys.key_parse_private(pem), force=force, actor=actor, action=Action.KEY_IMPORTED
    )


def _key_store(
    make_key: Callable[[], ec.EllipticCurvePrivateKey],
    *,
    force: bool,
    actor: Actor,
    action: str,
) -> PartnerKey:
    try:
        return _key_replace(make_key(), force=force, actor=actor, action=action)
    except (PartnerSetupError, KeyRejected) as exc:
        # Recorded outside the rolled-back transaction: a refused replacement is worth knowing.
        _audit(actor=actor, action=action, outcome=Outcome.REFUSED, detail=str(exc))
        raise


def _key_replace(
    private_key: ec.EllipticCurvePrivateKey, *, force: bool, actor: Actor, action: str
) -> PartnerKey:
    path = settings.TESLA_PRIVATE_KEY_FILE
    if path:
        _check_key_path(path)
    public_key = private_key.public_key()
    private_pem = keys.key_private_pem(private_key)
    now = timezone.now()
    with transaction.atomic():
        # Locked so two staff replacing the key at once cannot leave the row and the key
        # file holding halves of different pairs.
        row = PartnerKey.objects.select_for_update().filter(pk=PartnerKey.SINGLETON_PK).first()
        if row is not None and not force:
            raise PartnerKeyExists(
                _(
                    "An application key already exists (fingerprint %(fingerprint)s). Replacing "
                    "it breaks every registration and every paired vehicle until they are redone; "
                    "confirm to replace it."
                )
                % {"fingerprint": row.fingerprint}
            )
        previous = row.fingerprint if row is not None else ""
        if row is None:
            row = PartnerKey(pk=PartnerKey.SINGLETON_PK, created_at=now)
        else:
            row.rotated_at = now
        row.public_key_pem = keys.public_pem(public_key)
        row.public_key_hex = keys.public_hex(public_key)
        row.fingerprint = keys.fingerprint(public_key)
        row.private_key = "" if path else private_pem
        row.private_key_file = path
        row.save()
        # Tesla still holds the key it fetched at registration: the rows say so at once,
        # rather than showing green until the next check.
        stale = PartnerRegistration.objects.filter(state=State.REGISTERED).exclude(
            tesla_public_key_hex=row.public_key_hex
        )
        broken = sorted(stale.values_list("region", flat=True))
        stale.update(state=State.KEY_MISMATCH, problem=Problem.KEY_CHANGED)
        # In the same transaction as the key: a committed replacement always has its entry.
        _audit(
            actor=actor,
            action=action,
            outcome=Outcome.SUCCEEDED,
            fingerprint=row.fingerprint,
            previous_fingerprint=previous,
            detail=f"registrations now key_mismatch: {', '.join(broken)}" if broken else "",
        )
        if path:
            # Last step inside the transaction: if writing fails, the row rolls back and the
            # old file is untouched (os.replace is atomic).
            _write_private_file(Path(path), private_pem)
    return row


def partner_key_export(*, actor: Actor = None, path: str = "") -> str:
    """The private key as PEM, for a backup; written to `path` when given, a new file created
    0600 (an existing one is never overwritten). Every export is in the audit log."""
    try:
        key = selectors.partner_private_key()
        pem = keys.key_private_pem(key)
        if path:
            _create_private_file(Path(path), pem)
    except (selectors.PartnerKeyMissing, KeyRejected, PartnerSetupError) as exc:
        _audit(actor=actor, action=Action.KEY_EXPORTED, outcome=Outcome.REFUSED, detail=str(exc))
        raise
    _audit(
        actor=actor,
        action=Action.KEY_EXPORTED,
        outcome=Outcome.SUCCEEDED,
        fingerprint=keys.fingerprint(key.public_key()),
        detail=f"to file {path}" if path else "to standard output",
    )
    return pem


def partner_key_to_file(*, actor: Actor = None) -> PartnerKey:
    """Move the private key held in the database to TESLA_PRIVATE_KEY_FILE: the same key
    (fingerprint, registrations and paired cars unchanged), the database copy cleared.

    A file already there is used only if it holds this very key (copied to the host first).
    """
    try:
        return _key_to_file(settings.TESLA_PRIVATE_KEY_FILE, actor=actor)
    except (PartnerSetupError, KeyRejected) as exc:
        # Recorded outside the rolled-back transaction, like a refused replacement.
        _audit(actor=actor, action=Action.KEY_TO_FILE, outcome=Outcome.REFUSED, detail=str(exc))
        raise


def _key_to_file(path: str, *, actor: Actor) -> PartnerKey:
    if not path:
        raise PartnerSetupError(_("Set TESLA_PRIVATE_KEY_FILE to the file the key moves to."))
    _check_key_path(path)
    with transaction.atomic():
        # Locked: a key replaced meanwhile must not be half moved.
        row = PartnerKey.objects.select_for_update().filter(pk=PartnerKey.SINGLETON_PK).first()
        if row is None:
            raise PartnerSetupError(_("There is no application key yet."))
        if not row.private_key:
            raise PartnerSetupError(
                _("The private key is not held in the database: it is in %(path)s.")
                % {"path": row.private_key_file}
            )
        key = keys.key_parse_private(row.private_key.encode())
        target = Path(path)
        if target.exists():
            held = keys.key_parse_private(target.read_bytes())
            if keys.public_hex(held.public_key()) != row.public_key_hex:
                raise PartnerSetupError(
                    _("%(path)s already holds another key: it is left as it is.") % {"path": path}
                )
        else:
            _create_private_file(target, keys.key_private_pem(key))
        row.private_key = ""
        row.private_key_file = path
        row.save(update_fields=["private_key", "private_key_file"])
        _audit(
            actor=actor,
            action=Action.KEY_TO_FILE,
            outcome=Outcome.SUCCEEDED,
            fingerprint=row.fingerprint,
            detail=f"to file {path}",
        )
    return row


def _check_key_path(path: str) -> None:
    target = Path(path)
    if not target.is_absolute():
        raise PartnerSetupError(
            _("TESLA_PRIVATE_KEY_FILE must be an absolute path, not %(path)s.") % {"path": path}
        )
    resolved = target.resolve()
    for folder in _served_or_deployed_folders():
        if resolved.is_relative_to(folder):
            raise PartnerSetupError(
                _(
                    "TESLA_PRIVATE_KEY_FILE must be outside the project folder and every static "
                    "or media folder, but %(path)s is inside %(dir)s: use a path such as "
                    "/etc/fleetportal/keys/tesla-private-key.pem."
                )
                % {"path": path, "dir": folder}
            )
    if not target.parent.is_dir():
        raise PartnerSetupError(
            _("The folder of TESLA_PRIVATE_KEY_FILE (%(dir)s) does not exist.")
            % {"dir": target.parent}
        )


def _served_or_deployed_folders() -> list[Path]:
    """Folders a private key must never be in: the project folder (deployed with the code,
    readable by the web server) and every folder whose files may be served (STATIC_ROOT,
    MEDIA_ROOT, STATICFILES_DIRS, and each app's `static/`, which the staticfiles finders and
    whitenoise serve at STATIC_URL)."""
    folders: list[str | Path] = [settings.BASE_DIR, settings.STATIC_ROOT, settings.MEDIA_ROOT]
    for entry in settings.STATICFILES_DIRS:
        # An entry is a path, or a (prefix, path) pair.
        folders.append(entry[1] if isinstance(entry, tuple | list) else entry)
    folders += [Path(app.path) / "static" for app in django_apps.get_app_configs()]
    return [Path(folder).resolve() for folder in folders if folder]


def _create_private_file(path: Path, pem: str) -> None:
    """A new file, 0600 from the start; an existing one is refused, never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise PartnerSetupError(
            _("%(path)s already exists: it is not overwritten.") % {"path": path}
        ) from exc
    except OSError as exc:
        raise PartnerSetupError(
            _("%(path)s cannot be created (%(error)s).") % {"path": path, "error": exc.strerror}
        ) from exc
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write_private_file(path: Path, pem: str) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Created 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


# --- partner tokens ----------------------------------------------------------------------


def partner_token_get(*, region: str) -> str:
    """A partner token for the region: cached encrypted, fetched again shortly before expiry."""
    table = tesla.region_table()
    fleet_region = table.region(region)
    server = table.auth_server_for_region(fleet_region.code)
    creds = _credentials_or_refuse(server.key)
    now = timezone.now()
    cached = PartnerToken.objects.filter(
        region=fleet_region.code, client_id=creds.client_id
    ).first()
    if cached is not None and cached.expires_at - TOKEN_MARGIN > now:
        return cached.access_token
    # No lock: partner tokens are not single-use (unlike refresh tokens), so two workers
    # fetching at once only cost one extra token request and the last writer wins.
    tokens = oauth.partner_token(
        server,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        # A partner token is minted for one Fleet API; its base URL is the audience.
        audience=fleet_region.audience,
        session=tesla.http_session(),
    )
    PartnerToken.objects.update_or_create(
        region=fleet_region.code,
        defaults={
            "client_id": creds.client_id,
            "access_token": tokens.access_token,
            "expires_at": now + dt.timedelta(seconds=tokens.expires_in),
        },
    )
    return tokens.access_token


def _credentials_or_refuse(server_key: str) -> tesla.ClientCredentials:
    creds = tesla.credentials(server_key)
    if not creds.configured:
        client_id, secret = tesla.credential_settings(server_key)
        raise PartnerSetupError(
            _("No credentials for this region: the operator must set %(id)s and %(secret)s.")
            % {"id": client_id, "secret": secret}
        )
    return creds


def _with_partner_client(region: str, call: Callable[[FleetClient], T]) -> T:
    """Run `call` with a Fleet API client holding the region's partner token."""
    for attempt in (1, 2):
        token = partner_token_get(region=region)
        try:
            with tesla.partner_fleet_client(region=region, access_token=token) as client:
                return call(client)
        except Unauthorized:
            # A cached token Tesla no longer takes (revoked, clocks apart): drop it and try
            # once more with a fresh one.
            PartnerToken.objects.filter(region=region).delete()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def partner_telemetry_errors(*, region: str) -> list[TelemetryError]:
    """Recent telemetry errors across the fleet in one region, asked with the partner token.

    Raises PartnerSetupError (nothing asked: no credentials) or Tesla's error.
    """
    domain = selectors.partner_domain() or None
    return _with_partner_client(region, lambda c: c.partner_fleet_telemetry_errors(domain))


# --- registration ------------------------------------------------------------------------


def partner_register(*, region: str, actor: Actor = None) -> PartnerRegistration:
    """Register the domain in one region, then read back the key Tesla holds and compare.

    Local problems (no key, bad domain, no credentials) raise PartnerSetupError before any
    call; Tesla's refusals are stored on the region's row with Tesla's message. Every attempt
    is in the audit log.
    """
    code, domain, key = _audited_preconditions(region, need_key=True, actor=actor)
    assert key is not None

    def register(client: FleetClient) -> str | MissingScopes:
        client.partner_register(domain)
        try:
            return _held_key(client, domain)
        except MissingScopes as exc:
            # Tesla accepted the registration and then refuses to show the key it holds:
            # reported of Tesla China, whose public_key read-back answers 403 "missing
            # scopes" (docs/tesla-api-notes.md §7). Registered all the same; not verified.
            return exc

    try:
        held = _with_partner_client(code, register)
    except (TeslaError, requests.RequestException) as exc:
        row = _record_failure(code, domain, exc)
    else:
        if isinstance(held, MissingScopes):
            row = _record_readback_refused(code, domain, held, registered_at=timezone.now())
        else:
            row = _record_held_key(code, domain, key, held, registering=True)
    _audit_registration(row, actor=actor, action=Action.REGISTERED, fingerprint=key.fingerprint)
    return row


def partner_registration_check(*, region: str, actor: Actor = None) -> PartnerRegistration:
    """Ask Tesla which key it holds for the domain in the region, without registering."""
    code, domain, key = _audited_preconditions(
        region, need_key=False, actor=actor, action=Action.CHECKED
    )
    try:
        held = _with_partner_client(code, lambda client: _held_key(client, domain))
    except MissingScopes as exc:
        registered = PartnerRegistration.objects.filter(
            region=code, domain=domain, registered_at__isnull=False
        ).first()
        if registered is None:
            row = _record_failure(code, domain, exc)
        else:  # the read-back quirk of a region we registered in (see partner_register)
            row = _record_readback_refused(
                code, domain, exc, registered_at=registered.registered_at
            )
    except NotRegisteredInRegion as exc:
        # Tesla answers 412 to any partner call in a region the app never registered in.
        row = _save(
            code,
            domain,
            state=State.NOT_REGISTERED,
            problem=Problem.NONE,
            tesla_message=str(exc),
            tesla_public_key_hex="",
        )
    except (TeslaError, requests.RequestException) as exc:
        row = _record_failure(code, domain, exc)
    else:
        row = _record_held_key(code, domain, key, held, registering=False)
    _audit_registration(
        row, actor=actor, action=Action.CHECKED, fingerprint=key.fingerprint if key else ""
    )
    return row


def partner_register_all(*, actor: Actor = None) -> list[RegisterOutcome]:
    """Register in every region of the environment; a refused region does not stop others."""
    outcomes = []
    for code in selectors.region_codes():
        try:
            outcomes.append(RegisterOutcome(code, partner_register(region=code, actor=actor)))
        except PartnerSetupError as exc:
            outcomes.append(RegisterOutcome(code, None, refused=str(exc)))
    return outcomes


def _audited_preconditions(
    region: str, *, need_key: bool, actor: Actor, action: str = Action.REGISTERED
) -> tuple[str, str, PartnerKey | None]:
    try:
        return _preconditions(region, need_key=need_key)
    except PartnerSetupError as exc:
        _audit(
            actor=actor, action=action, outcome=Outcome.REFUSED, region=region[:4], detail=str(exc)
        )
        raise


def _audit_registration(
    row: PartnerRegistration, *, actor: Actor, action: str, fingerprint: str
) -> None:
    # Succeeded means what the operator wants to know: Tesla holds this portal's key there.
    _audit(
        actor=actor,
        action=action,
        outcome=Outcome.SUCCEEDED if row.state == State.REGISTERED else Outcome.FAILED,
        region=row.region,
        fingerprint=fingerprint,
        # Tesla's own words (status, error, description): never a token.
        detail=f"{row.state}: {row.tesla_message}" if row.tesla_message else row.state,
    )


# --- the audit log -----------------------------------------------------------------------


def command_actor(command: str) -> str:
    """How the audit log names a command line: the command and the OS user who ran it."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor the password database
        user = "unknown"
    return f"command line: manage.py {command} (os user {user})"


def _audit(*, actor: Actor, action: str, outcome: str, **fields: str) -> PartnerAuditEntry:
    if actor is None or isinstance(actor, str):
        who = {"actor": None, "actor_label": actor or "system"}
    else:
        who = {"actor": actor, "actor_label": actor.email}
    return PartnerAuditEntry.objects.create(action=action, outcome=outcome, **who, **fields)


def _preconditions(region: str, *, need_key: bool) -> tuple[str, str, PartnerKey | None]:
    try:
        code = tesla.region_table().region(region).code
    except KeyError as exc:
        raise PartnerSetupError(_("Unknown region %(region)s.") % {"region": region}) from exc
    key = selectors.partner_key()
    if need_key and key is None:
        raise PartnerSetupError(_("There is no application key yet: generate or import one first."))
    domain = selectors.partner_domain()
    problem = hostnames.domain_problem(domain)
    if problem:
        raise PartnerSetupError(problem)
    _credentials_or_refuse(selectors.auth_server_for(code))
    return code, domain, key


def _held_key(client: FleetClient, domain: str) -> str:
    try:
        return client.partner_public_key(domain).public_key
    except NotFound:
        return ""


def _record_held_key(
    code: str, domain: str, key: PartnerKey | None, held: str, *, registering: bool
) -> PartnerRegistration:
    now = timezone.now()
    ours = key.public_key_hex if key else ""
    if held and held == ours:
        fields = {"state": State.REGISTERED, "problem": Problem.NONE, "tesla_message": ""}
        if registering:
            fields["registered_at"] = now
    elif held:
        fields = {
            "state": State.KEY_MISMATCH,
            "problem": Problem.KEY_DIFFERS,
            "tesla_message": _held_message(held),
        }
    elif registering:
        fields = {"state": State.ERROR, "problem": Problem.NO_KEY_AT_TESLA, "tesla_message": ""}
    else:
        fields = {"state": State.NOT_REGISTERED, "problem": Problem.NONE, "tesla_message": ""}
    return _save(code, domain, tesla_public_key_hex=held, **fields)


def _record_readback_refused(
    code: str, domain: str, exc: MissingScopes, *, registered_at: dt.datetime | None
) -> PartnerRegistration:
    return _save(
        code,
        domain,
        state=State.REGISTERED,
        problem=Problem.READBACK_REFUSED,
        tesla_message=str(exc),  # Tesla's status, error and description, never a token
        tesla_public_key_hex="",  # unknown: Tesla did not say
        registered_at=registered_at,
    )


def _held_message(held: str) -> str:
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), bytes.fromhex(held)
        )
    except ValueError:
        return f"public_key {held[:16]}…"
    return f"public_key fingerprint {keys.fingerprint(public_key)}"


def _record_failure(code: str, domain: str, exc: Exception) -> PartnerRegistration:
    if isinstance(exc, NotRegisteredInRegion):
        problem = Problem.NOT_REGISTERED_IN_REGION
    elif isinstance(exc, TeslaError) and exc.status == 422:
        problem = Problem.INVALID_RESOURCE
    elif isinstance(exc, Unauthorized | MissingScopes):
        problem = Problem.TOKEN_REFUSED
    elif isinstance(exc, oauth.PermanentOAuthError):
        problem = Problem.CREDENTIALS_REFUSED
    elif isinstance(exc, TransientError | requests.RequestException):
        problem = Problem.TESLA_UNAVAILABLE
    else:
        problem = Problem.OTHER
    # The library's messages carry Tesla's status, error and description, never a token.
    message = str(exc) if isinstance(exc, TeslaError) else type(exc).__name__
    return _save(code, domain, state=State.ERROR, problem=problem, tesla_message=message)


def _save(code: str, domain: str, **fields: object) -> PartnerRegistration:
    row, _created = PartnerRegistration.objects.update_or_create(
        region=code, defaults={"domain": domain, "checked_at": timezone.now(), **fields}
    )
    return row


# --- pre-flight --------------------------------------------------------------------------


def partner_preflight() -> list[Check]:
    """What must hold before registering (issue 6): key, key URL, domain, credentials.

    Fetches our own public key URL(s) over HTTP; calls nothing at Tesla.
    """
    key = selectors.partner_key()
    checks = [_check_key(key)]
    for url in selectors.public_key_urls():
        checks.append(_check_key_url(url, key))
    domain = selectors.partner_domain()
    problem = hostnames.domain_problem(domain)
    checks.append(
        Check(
            _("Domain is a bare host"),
            problem is None,
            problem or _("Tesla will be given the domain %(domain)s.") % {"domain": domain},
        )
    )
    checks.append(_check_origin(domain))
    for code in selectors.region_codes():
        server = selectors.auth_server_for(code)
        client_id, secret = tesla.credential_settings(server)
        configured = tesla.credentials(server).configured
        checks.append(
            Check(
                _("Credentials for %(region)s") % {"region": code},
                configured,
                _("%(id)s and %(secret)s are set.") % {"id": client_id, "secret": secret}
                if configured
                else _("Set %(id)s and %(secret)s.") % {"id": client_id, "secret": secret},
            )
        )
    return checks


def partner_key_hosting_watch(*, now: dt.datetime | None = None) -> str:
    """Beat: fetch our public key URL(s) as Tesla does when a car pairs; record what is wrong
    (shown on the partner page and to owners about to pair) and email the partner managers
    once per incident. Returns the problem, "" when the key is served."""
    key = selectors.partner_key()
    if key is None:
        return ""
    now = now or timezone.now()
    failed = [
        check
        for check in (_check_key_url(url, key) for url in selectors.public_key_urls())
        if not check.ok
    ]
    problem = " ".join(f"{c.check}: {c.message}" for c in failed)
    rows = PartnerKey.objects.filter(pk=key.pk)
    if not problem:
        rows.update(hosting_problem="", hosting_checked_at=now, hosting_notified_at=None)
        return ""
    rows.update(hosting_problem=problem, hosting_checked_at=now)
    # One email per incident: the conditional update lets one of two watches at once claim it.
    if rows.filter(hosting_notified_at__isnull=True).update(hosting_notified_at=now):
        try:
            _send_hosting_email(problem)
        except Exception:
            rows.filter(hosting_notified_at=now).update(hosting_notified_at=None)
            raise
    return problem


def _send_hosting_email(problem: str) -> None:
    recipients = list(staff_holding(MANAGE_PARTNER).exclude(email=""))
    if recipients:
        context = {
            "problem": problem,
            "partner_url": settings.PORTAL_PUBLIC_URL.rstrip("/") + reverse("partner_status"),
        }
        send_mail_in_their_language("partners/email/key_not_served", context, recipients)


def _check_key(key: PartnerKey | None) -> Check:
    title = _("Application key is EC P-256")
    if key is None:
        return Check(title, False, _("There is no application key yet: generate or import one."))
    public_key = serialization.load_pem_public_key(key.public_key_pem.encode())
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return Check(title, False, _("The stored key is not on the P-256 curve."))
    if key.private_key_file:
        # A file stored before the path rule existed may sit where it can be served.
        try:
            _check_key_path(key.private_key_file)
        except PartnerSetupError as exc:
            return Check(title, False, str(exc))
    # Read here: signing happens on the workers, and each host reads the key file from its
    # own disk, so each host's pre-flight (manage.py tesla_preflight) speaks for that host.
    host = socket.gethostname()
    try:
        selectors.partner_private_key()
    except (selectors.PartnerKeyMissing, KeyRejected) as exc:
        return Check(
            title, False, _("%(problem)s (on host %(host)s)") % {"problem": exc, "host": host}
        )
    if key.private_key_file:
        return Check(
            title,
            True,
            _(
                "Fingerprint %(fingerprint)s; the private key file %(path)s is readable on "
                "host %(host)s. Every worker host needs the same file."
            )
            % {"fingerprint": key.fingerprint, "path": key.private_key_file, "host": host},
        )
    return Check(title, True, _("Fingerprint %(fingerprint)s.") % {"fingerprint": key.fingerprint})


def _check_key_url(url: str, key: PartnerKey | None) -> Check:
    title = _("Public key served at %(url)s") % {"url": url}
    if key is None:
        return Check(title, False, _("Nothing to serve until a key exists."))
    try:
        response = tesla.http_session().get(url, allow_redirects=False, timeout=PREFLIGHT_TIMEOUT)
    except requests.RequestException as exc:
        return Check(title, False, _("Not reachable (%(error)s).") % {"error": type(exc).__name__})
    if response.is_redirect:
        return Check(
            title,
            False,
            _("It redirects to %(location)s; Tesla does not follow redirects.")
            % {"location": response.headers.get("Location", "?")},
        )
    if response.status_code != 200:
        return Check(
            title, False, _("It answers HTTP %(status)s.") % {"status": response.status_code}
        )
    try:
        served = serialization.load_pem_public_key(response.content)
    except ValueError:
        return Check(title, False, _("It does not serve a PEM public key."))
    if not isinstance(served, ec.EllipticCurvePublicKey) or keys.public_hex(served) != (
        key.public_key_hex
    ):
        return Check(title, False, _("It serves a different key than this portal's."))
    return Check(title, True, _("It serves this portal's key."))


def _check_origin(domain: str) -> Check:
    title = _("Domain matches an allowed origin")
    origins = list(settings.TESLA_ALLOWED_ORIGINS)
    if not origins:
        return Check(
            title,
            None,
            _(
                "Unknown: TESLA_ALLOWED_ORIGINS is not set. Tesla requires the domain to share "
                "its root with one of the application's allowed origins."
            ),
        )
    match = selectors.matching_origin(domain, origins)
    if match is None:
        return Check(
            title,
            False,
            _("%(domain)s shares its root with none of: %(origins)s.")
            % {"domain": domain, "origins": ", ".join(origins)},
        )
    return Check(title, True, _("Same root as %(origin)s.") % {"origin": match})
