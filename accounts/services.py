"""Writes for accounts: sessions, and linking Tesla accounts."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import reasons
from accounts.models import RefreshAttempt, TeslaLink, User
from accounts.signals import link_connected
from fleetportal import queueing, tesla, workers
from teslafleet import oauth
from teslafleet.fleet import BaseURLNotAllowed, FleetClient, Unauthorized

T = TypeVar("T")

logger = logging.getLogger(__name__)


class LinkOwnedByAnotherUser(Exception):
    """The Tesla account is already linked to a different portal user."""


class LinkBroken(Exception):
    """The link needs a relink (or was revoked): no call is made on its behalf. `reason` is
    the link's stored reason; the message words it in the active language."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return reasons.reason_text(self.reason)


def sessions_clear_expired() -> int:
    """Delete expired database sessions; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


def user_language_set(*, user: User, language: str) -> bool:
    """Keep `language` on the user's profile (applied to their requests and their emails);
    False, and nothing stored, for a code the portal does not offer."""
    if language not in dict(settings.LANGUAGES):
        return False
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return True


def tesla_profile(*, auth_server_key: str, tokens: oauth.TokenSet) -> dict[str, Any]:
    """Who and where the Tesla user is: subject, scopes, region and Fleet API base URL."""
    claims = tokens.claims
    table = tesla.region_table()
    server = table.auth_server(auth_server_key)
    # Start at the region the token names (ou_code) when this server serves it; a 421 from
    # /users/region re-routes to the right one, within this server's allowlist only.
    start = (
        table.region(claims.ou_code)
        if claims.ou_code and claims.ou_code.upper() in server.region_codes
        else table.region(server.region_codes[0])
    )
    allowlist = table.fleet_allowlist(auth_server_key)
    profile: dict[str, Any] = {
        "sub": claims.sub,
        "auth_server": auth_server_key,
        "scopes": list(claims.scp),
        "region": start.code,
        "fleet_api_base_url": start.base_url,
        "email": "",
        "full_name": "",
    }
    if "user_data" not in claims.scp:
        # Both user endpoints need user_data (§1.5); ou_code is the best we have.
        return profile
    with tesla.user_fleet_client(
        base_url=start.base_url, access_token=tokens.access_token, auth_server_key=auth_server_key
    ) as client:
        answer = client.user_region()
        region = table.region_for_base_url(answer.fleet_api_base_url)
        if region is None or answer.fleet_api_base_url not in allowlist:
            raise BaseURLNotAllowed(
                "Tesla named a Fleet API base URL outside this server's regions",
                error="base_url_not_allowed",
            )
        me = client.me()
    profile.update(
        region=region.code,
        fleet_api_base_url=region.base_url,
        email=str(me.get("email") or ""),
        full_name=str(me.get("full_name") or ""),
    )
    return profile


def link_store(
    *,
    user: User,
    profile: dict[str, Any],
    access_token: str,
    refresh_token: str,
    expires_at: dt.datetime | None,
) -> TeslaLink:
    """Create or update the user's link to this Tesla account with a freshly issued pair."""
    now = timezone.now()
    with transaction.atomic():
        # Locked so a concurrent refresh of the same link waits, then sees the new pair.
        link = (
            TeslaLink.objects.select_for_update()
            .filter(auth_server=profile["auth_server"], subject=profile["sub"])
            .first()
        )
        if link is not None and link.user_id != user.pk:
            raise LinkOwnedByAnotherUser
        if link is None:
            link = TeslaLink(user=user, auth_server=profile["auth_server"], subject=profile["sub"])
        link.region = profile["region"]
        link.fleet_api_base_url = profile["fleet_api_base_url"]
        link.email = profile.get("email", "")
        link.full_name = profile.get("full_name", "")
        # A new chain: a refresh in flight sent the old chain's token, its answer must not
        # replace this pair.
        link.refresh_lease_token, link.refresh_lease_until = "", None
        _pair_store(
            link,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            scopes=list(profile.get("scopes", [])),
            now=now,
            new_chain=True,
        )
        link.save()
        # Whoever cares (vehicles: the new link's cars appear without waiting for the hourly
        # sweep) hears of it once the link is committed, so its workers can read it.
        transaction.on_commit(lambda: link_connected.send(sender=TeslaLink, link=link))
    return link


def link_unlink(*, link: TeslaLink) -> None:
    """Forget a linked Tesla account: its tokens and allauth's record of it."""
    with transaction.atomic():
        SocialAccount.objects.filter(
            user_id=link.user_id, provider=link.provider_id, uid=link.subject
        ).delete()
        link.delete()


# --- Keeping links alive ----------------------------------------------------------------------


# The columns the refresh path writes: saved by name, so a failed refresh does not re-encrypt
# and rewrite the token pair (and a concurrent edit of another column is not undone).
_HEALTH_FIELDS = ("health", "health_reason", "health_changed_at", "updated_at")
_PAIR_FIELDS = (
    "access_token",
    "refresh_token",
    "refresh_token_issued_at",
    "access_token_expires_at",
    "last_refreshed_at",
    "token_version",
    "refresh_queued_at",
    "scopes",
    *_HEALTH_FIELDS,
)
_LEASE_FIELDS = ("refresh_lease_token", "refresh_lease_until", "refresh_queued_at")


def _margin() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TESLA_REFRESH_MARGIN_SECONDS)


def _set_health(link: TeslaLink, health: str, reason: str = "", *, notify: bool = True) -> None:
    """Change health; entering "needs relink" queues the one notification for it."""
    entering_broken = notify and health in TeslaLink.BROKEN and not link.is_broken
    if link.health != health:
        link.health_changed_at = timezone.now()
    link.health = health
    link.health_reason = reason
    if entering_broken:
        # Sent once: only the transition queues it, and only if the transition commits.
        # Queued by name: accounts.tasks imports these services, never the other way round.
        queueing.task_named("accounts.tasks.link_notify_needs_relink").delay_on_commit(link.pk)


def _pair_values(
    *,
    access_token: str,
    refresh_token: str,
    expires_at: dt.datetime | None,
    scopes: list[str],
    now: dt.datetime,
    new_chain: bool,
) -> dict[str, Any]:
    """The columns a new token pair writes (all but `token_version` and health).

    The refresh token: one Tesla sent replaces the link's; without one, a refresh keeps the
    link's (a rotation need not send one), while a new chain has none. The scopes: a new
    chain's replace the link's; a refresh's replace them when its token names any, since users
    can narrow consent at Tesla and new access tokens carry the new scopes (§2.4).
    """
    values: dict[str, Any] = {
        "access_token": access_token,
        "access_token_expires_at": expires_at or now + dt.timedelta(hours=8),
        "last_refreshed_at": now,
        "refresh_queued_at": None,
    }
    if refresh_token or new_chain:
        values.update(refresh_token=refresh_token, refresh_token_issued_at=now)
    if scopes or new_chain:
        values["scopes"] = list(scopes)
    return values


def _pair_store(link: TeslaLink, **pair: Any) -> None:
    """The one writer of a token pair on a link object, for a new link, a relink
    (`new_chain`) and a refresh; `pair` holds `_pair_values`' arguments. A link missing a
    required scope, or left without a refresh token (no offline_access), needs a relink. The
    caller saves the link, in its transaction.
    """
    new_chain = pair["new_chain"]
    for name, value in _pair_values(**pair).items():
        setattr(link, name, value)
    link.token_version += 1
    missing = link.missing_scopes
    if not link.refresh_token and "offline_access" not in missing:
        missing.append("offline_access")
    if missing:
        # Entering "needs relink" on a refresh emails the owner; a new chain's owner is on
        # the page that says so.
        _set_health(
            link,
            TeslaLink.Health.NEEDS_RELINK,
            reasons.missing_scopes(missing),
            notify=not new_chain,
        )
    else:
        _set_health(link, TeslaLink.Health.OK)


@dataclass(frozen=True)
class _Lease:
    """A claimed refresh: the lease's token, the refresh token it was claimed for, and when
    the lease runs out."""

    token: str
    refresh_token: str
    auth_server: str
    until: dt.datetime


# A chunk's leases last at most this many turns of its threads (a chunk much longer than the
# threads, or a lease held by a worker that died, would otherwise keep a link waiting long).
MAX_LEASE_TURNS = 4
# How often a refresher waiting on another one's lease looks again.
LEASE_POLL_SECONDS = 0.1


def _lease_duration() -> dt.timedelta:
    # Longer than one token call can take (connect + read timeouts, plus slack), so a live
    # holder keeps its lease to the end; a holder that died lets it lapse, and the next
    # refresher takes over with the old refresh token (Tesla honours the most recently used
    # one for 24 h: https://developer.tesla.com/docs/fleet-api/authentication/third-party-tokens).
    return _token_call_budget() + dt.timedelta(seconds=15)


def _token_call_budget() -> dt.timedelta:
    """The longest one token call can take (its connect and read timeouts)."""
    connect, read = settings.TESLA_HTTP_TIMEOUT
    return dt.timedelta(seconds=connect + read)


def _refresh_claim_at_once(
    *, link_ids: list[int], expected_version: int | None = None, force: bool = False
) -> dict[int, _Lease]:
    """The common case of `_refresh_claim`, for many links in two statements outside a
    transaction: one conditional UPDATE takes the lease of each link that is healthy, holds a
    refresh token, is due (or forced), at the caller's version and not leased; one SELECT
    reads what was taken. A link left out is not claimed: `_refresh_claim` then says why,
    under the row lock. The database applies the UPDATE atomically, so of two refreshers only
    one takes a link's lease.

    One lease token for the lot; the lease lasts long enough for every link to have its turn
    on the refresh threads, one token call per thread at a time, up to MAX_LEASE_TURNS turns
    (a link whose turn comes later claims its lease again: links_refresh_batch).
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    claimable = (
        TeslaLink.objects.filter(pk__in=link_ids)
        .exclude(health__in=TeslaLink.BROKEN)
        .exclude(refresh_token="")
        .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now))
    )
    if expected_version is not None:
        claimable = claimable.filter(token_version=expected_version)
    if not force:
        claimable = claimable.filter(access_token_expires_at__lte=now + _margin())
    turns = -(-len(link_ids) // max(1, settings.TESLA_REFRESH_THREADS))
    until = now + _lease_duration() * min(max(1, turns), MAX_LEASE_TURNS)
    if not claimable.update(refresh_lease_token=token, refresh_lease_until=until):
        return {}
    held = TeslaLink.objects.filter(pk__in=link_ids, refresh_lease_token=token).values_list(
        "pk", "refresh_token", "auth_server"
    )
    # A link missing here was relinked (its lease reset) in between.
    return {pk: _Lease(token, refresh, server, until) for pk, refresh, server in held}


def _refresh_claim(
    *, link_id: int, expected_version: int | None, force: bool
) -> _Lease | dt.datetime | str:
    """Take the link's refresh lease: the lease, an outcome (nothing to send), or the time
    another refresher's lease runs out."""
    with transaction.atomic():
        # A short transaction: the lock (on SQLite the database's write lock) is held for a
        # few statements, never across Tesla's token call.
        link = TeslaLink.objects.select_for_update().get(pk=link_id)
        now = timezone.now()
        if link.is_broken:
            return "broken"
        if expected_version is not None and link.token_version != expected_version:
            return "superseded"
        if not force and link.access_token_expires_at > now + _margin():
            TeslaLink.objects.filter(pk=link.pk).update(refresh_queued_at=None)
            return "fresh"
        if link.refresh_lease_until is not None and link.refresh_lease_until > now:
            return link.refresh_lease_until
        if not link.refresh_token:
            _set_health(
                link, TeslaLink.Health.NEEDS_RELINK, reasons.missing_scopes(["offline_access"])
            )
            link.save(update_fields=_HEALTH_FIELDS)
            return "broken"
        lease = _Lease(
            secrets.token_hex(16), link.refresh_token, link.auth_server, now + _lease_duration()
        )
        TeslaLink.objects.filter(pk=link.pk).update(
            refresh_lease_token=lease.token, refresh_lease_until=lease.until
        )
    return lease


def _lease_wait(*, link_id: int, until: dt.datetime) -> None:
    """Wait, outside any transaction, until the other refresher releases its lease (or it
    lapses: that refresher died)."""
    while timezone.now() < until:
        held = TeslaLink.objects.filter(pk=link_id, refresh_lease_until__gt=timezone.now()).exists()
        if not held:
            return
        time.sleep(LEASE_POLL_SECONDS)


def _lease_release(*, link_id: int, lease: _Lease) -> None:
    TeslaLink.objects.filter(pk=link_id, refresh_lease_token=lease.token).update(
        refresh_lease_token="", refresh_lease_until=None
    )


def _pair_store_at_once(
    *, link_id: int, lease: _Lease, tokens: oauth.TokenSet, duration_ms: int
) -> bool:
    """The common case of `_refresh_record` without reading the link: the lease is still ours,
    Tesla sent a new refresh token and the new token's scopes cover every required one, so
    the link ends healthy. One conditional UPDATE and the attempt's INSERT; False (nothing
    written) otherwise, and the locked path decides.

    Written as SQL, with each value prepared by its model field (encryption included): the
    refresh threads run this for every link, and under load each round trip to the database
    and each ORM compilation waits for a core (bench_refresh). On PostgreSQL the UPDATE and
    the INSERT are one statement (the INSERT reads the UPDATE's RETURNING, so both or
    neither happen); elsewhere a transaction holds the two.
    """
    scopes = list(tokens.claims.scp)
    if not tokens.refresh_token or not scopes:
        return False
    if any(scope not in scopes for scope in settings.TESLA_REQUIRED_SCOPES):
        return False
    now = timezone.now()
    healthy = TeslaLink.Health.OK
    values = {
        **_pair_values(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=now + dt.timedelta(seconds=tokens.expires_in or 28800),
            scopes=scopes,
            now=now,
            new_chain=False,
        ),
        "health": healthy,
        "health_reason": "",
        "updated_at": now,
        "refresh_lease_token": "",
        "refresh_lease_until": None,
    }
    link_sql = _SqlTable(TeslaLink)
    column = link_sql.column
    # Identifiers come from the models, quoted; every value is a parameter.
    assignments = ", ".join(f"{column(name)} = %s" for name in values)
    update_sql = (
        f"UPDATE {link_sql.table} SET {assignments}, "  # noqa: S608
        f"{column('token_version')} = {column('token_version')} + 1, "
        f"{column('health_changed_at')} = CASE WHEN {column('health')} = %s "
        f"THEN {column('health_changed_at')} ELSE %s END "
        f"WHERE {column('id')} = %s AND {column('refresh_lease_token')} = %s"
    )
    update_params = [
        *(link_sql.prep(name, value) for name, value in values.items()),
        healthy,
        link_sql.prep("health_changed_at", now),
        link_id,
        lease.token,
    ]
    attempt_sql = _SqlTable(RefreshAttempt)
    attempt = {
        "link_id": link_id,
        "outcome": RefreshAttempt.Outcome.OK,
        "error": "",
        "duration_ms": duration_ms,
        "created_at": now,
    }
    attempt_columns = ", ".join(attempt_sql.column(name) for name in attempt)
    attempt_params = [attempt_sql.prep(name, value) for name, value in attempt.items()]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH stored AS ({update_sql} RETURNING {column('id')}) "  # noqa: S608
                f"INSERT INTO {attempt_sql.table} ({attempt_columns}) "
                f"SELECT {', '.join(['%s'] * len(attempt))} FROM stored",
                [*update_params, *attempt_params],
            )
            return cursor.rowcount == 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(update_sql, update_params)
        if cursor.rowcount != 1:
            return False
        cursor.execute(
            f"INSERT INTO {attempt_sql.table} ({attempt_columns}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(attempt))})",
            attempt_params,
        )
    return True


class _SqlTable:
    """A model's table and columns, quoted, and its values prepared as its fields save them."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.table = connection.ops.quote_name(model._meta.db_table)

    def column(self, name: str) -> str:
        return connection.ops.quote_name(self.model._meta.get_field(name).column)

    def prep(self, name: str, value: Any) -> Any:
        return self.model._meta.get_field(name).get_db_prep_save(value, connection)


def _refresh_record(
    *,
    link_id: int,
    lease: _Lease,
    tokens: oauth.TokenSet | None,
    failure: oauth.OAuthError | None,
    duration_ms: int,
) -> str:
    """Store what Tesla answered, in a short transaction, if it still applies."""
    if tokens is not None and _pair_store_at_once(
        link_id=link_id, lease=lease, tokens=tokens, duration_ms=duration_ms
    ):
        return "refreshed"
    with transaction.atomic():
        link = TeslaLink.objects.select_for_update().filter(pk=link_id).first()
        if link is None:
            return "superseded"  # unlinked meanwhile: the new pair is dropped with the link
        ours = link.refresh_lease_token == lease.token
        # Our lease lapsed and someone else took it: the answer still applies if the link holds
        # the refresh token we sent, since a rotated token that is never saved breaks the link.
        # A changed one (their rotation, or a relink) is newer than ours: ours is dropped.
        applies = ours or link.refresh_token == lease.refresh_token
        now = timezone.now()
        if isinstance(failure, oauth.PermanentOAuthError):
            outcome, error = RefreshAttempt.Outcome.FAILED, failure.error or str(failure.status)
            if applies:
                _set_health(link, TeslaLink.Health.NEEDS_RELINK, reasons.refused(error))
                link.refresh_queued_at = None
        elif failure is not None:
            outcome, error = RefreshAttempt.Outcome.RETRIED, failure.error
            if applies:
                _set_health(link, TeslaLink.Health.RETRYING, reasons.unavailable(str(failure)))
        else:
            assert tokens is not None
            outcome, error = RefreshAttempt.Outcome.OK, ""
            if applies:
                # Committed by this block before anything uses the new pair.
                _pair_store(
                    link,
                    access_token=tokens.access_token,
                    refresh_token=tokens.refresh_token,
                    expires_at=now + dt.timedelta(seconds=tokens.expires_in or 28800),
                    scopes=list(tokens.claims.scp),
                    now=now,
                    new_chain=False,
                )
        if ours:
            link.refresh_lease_token, link.refresh_lease_until = "", None
        stored_pair = applies and tokens is not None
        link.save(
            update_fields={*(_PAIR_FIELDS if stored_pair else _HEALTH_FIELDS), *_LEASE_FIELDS}
        )
        RefreshAttempt.objects.create(
            link=link, outcome=outcome, error=error[:100], duration_ms=duration_ms
        )
    if not applies:
        return "superseded"
    return "refreshed" if outcome == RefreshAttempt.Outcome.OK else "broken"


def link_refresh_tokens(
    *, link_id: int, expected_version: int | None = None, force: bool = False
) -> str:
    """Rotate a link's token pair, at most once at a time per link.

    Returns "refreshed", or why nothing was stored: "broken", "superseded" (the caller's token
    version is no longer current: someone else refreshed) or "fresh" (not due and not forced).
    Raises the transient OAuthError after recording it, so the caller can retry.

    Tesla refresh tokens are single use, so one refresher at a time holds the link's lease
    and the others wait for it, then find the new pair and send nothing. The lease is taken
    and the answer stored in two short transactions with Tesla's token call between them,
    outside any transaction: on SQLite a transaction holds the whole database's write lock,
    and a slow Tesla must not block every login. Call it outside a transaction.
    """
    while True:
        claim = _refresh_claim_at_once(
            link_ids=[link_id], expected_version=expected_version, force=force
        ).get(link_id) or _refresh_claim(
            link_id=link_id, expected_version=expected_version, force=force
        )
        if isinstance(claim, str):
            return claim
        if isinstance(claim, dt.datetime):
            _lease_wait(link_id=link_id, until=claim)
            continue
        return _refresh_leased(link_id=link_id, lease=claim)


def _refresh_leased(*, link_id: int, lease: _Lease) -> str:
    """Tesla's token call for a claimed link, and its answer stored (`link_refresh_tokens`)."""
    creds = tesla.credentials(lease.auth_server)
    started = time.monotonic()
    tokens: oauth.TokenSet | None = None
    failure: oauth.OAuthError | None = None
    try:
        tokens = oauth.refresh(
            tesla.auth_server(lease.auth_server),
            client_id=creds.client_id,
            refresh_token=lease.refresh_token,
            session=tesla.http_session(),
        )
    except (oauth.PermanentOAuthError, oauth.TransientOAuthError) as exc:
        failure = exc
    except BaseException:
        # Not Tesla's answer (a bug, an interrupt): let the next refresher go at once; the
        # old refresh token still works if Tesla did rotate.
        _lease_release(link_id=link_id, lease=lease)
        raise
    outcome = _refresh_record(
        link_id=link_id,
        lease=lease,
        tokens=tokens,
        failure=failure,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    if isinstance(failure, oauth.TransientOAuthError):
        raise failure
    return outcome


def links_refresh_batch(*, link_ids: list[int]) -> list[workers.LinkOutcome]:
    """Refresh claimed links on this process's refresh threads (fleetportal/workers.py).

    The leases of the links that can be claimed at once are taken together; each other link
    goes through `link_refresh_tokens`, which says why (or waits for another refresher), so
    single flight, the lease and crash recovery hold as for one link. A link that is no
    longer due is left alone ("fresh")."""
    leases = _refresh_claim_at_once(link_ids=link_ids)

    def refresh(link_id: int) -> str:
        # Taken once: a link listed twice has one lease, and the second turn waits on it.
        lease = leases.pop(link_id, None)
        if lease is not None and lease.until < timezone.now() + _token_call_budget():
            # Its turn came too late for the lease to outlast a token call: claim it anew.
            _lease_release(link_id=link_id, lease=lease)
            lease = None
        if lease is None:  # not claimable at once: the one-link path says why (or waits)
            return link_refresh_tokens(link_id=link_id)
        return _refresh_leased(link_id=link_id, lease=lease)

    return workers.tesla_chunk(refresh, link_ids, what="refresh")


def links_claim_due(*, limit: int | None = None) -> list[int]:
    """Claim links whose access token expires within the margin, for one refresh task each.

    A claimed link is marked queued, so an overlapping sweep does not queue it again; a mark
    older than the stale window (a lost task) may be claimed anew.
    """
    now = timezone.now()
    stale = now - dt.timedelta(minutes=15)
    with transaction.atomic():
        due = (
            TeslaLink.objects.select_for_update(skip_locked=True)
            .filter(
                health__in=[TeslaLink.Health.OK, TeslaLink.Health.RETRYING],
                access_token_expires_at__lte=now + _margin(),
            )
            .exclude(refresh_token="")
            .exclude(refresh_queued_at__gt=stale)
            .order_by("access_token_expires_at")
            .values_list("pk", flat=True)[: limit or settings.TESLA_REFRESH_BATCH]
        )
        ids = list(due)
        TeslaLink.objects.filter(pk__in=ids).update(refresh_queued_at=now)
    return ids


def _call_once(link: TeslaLink, call: Callable[[FleetClient], T]) -> T:
    client = tesla.user_fleet_client(
        base_url=link.fleet_api_base_url,
        access_token=link.access_token,
        auth_server_key=link.auth_server,
    )
    try:
        return call(client)
    finally:
        client.close()
        if client.base_url != link.fleet_api_base_url:
            # Tesla re-routed this user (421) to another allowlisted region: remember it.
            region = tesla.region_table().region_for_base_url(client.base_url)
            link.fleet_api_base_url = client.base_url
            TeslaLink.objects.filter(pk=link.pk).update(
                fleet_api_base_url=client.base_url,
                region=region.code if region else link.region,
            )


def link_fleet_call(*, link: TeslaLink, call: Callable[[FleetClient], T]) -> T:
    """Run one Fleet API call for a link, with a valid access token.

    An expired token is refreshed first, through the same single-flight path as the sweep; a
    401 triggers one refresh and one retry, never a loop.
    """
    if link.is_broken:
        raise LinkBroken(link.health_reason)
    if link.access_token_expires_at <= timezone.now() + dt.timedelta(seconds=60):
        link_refresh_tokens(link_id=link.pk, expected_version=link.token_version, force=True)
        link.refresh_from_db()
        if link.is_broken:
            raise LinkBroken(link.health_reason)
    try:
        return _call_once(link, call)
    except Unauthorized:
        link_refresh_tokens(link_id=link.pk, expected_version=link.token_version, force=True)
        link.refresh_from_db()
        if link.is_broken:
            raise LinkBroken(link.health_reason) from None
        return _call_once(link, call)  # a second 401 propagates
