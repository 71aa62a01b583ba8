"""Writes for accounts: sessions, and linking Tesla accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts import tesla
from accounts.models import TeslaLink, User
from fleetportal.tesla import oauth
from fleetportal.tesla.fleet import BaseURLNotAllowed, FleetClient


class LinkOwnedByAnotherUser(Exception):
    """The Tesla account is already linked to a different portal user."""


def sessions_clear_expired() -> int:
    """Delete expired database sessions; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


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
        # Both user endpoints need user_data (spec 1.5); ou_code is the best we have.
        return profile
    with FleetClient(
        start.base_url,
        tokens.access_token,
        allowed_base_urls=allowlist,
        session=tesla.http_session(),
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
        link.scopes = list(profile.get("scopes", []))
        link.access_token = access_token
        link.refresh_token = refresh_token
        link.access_token_expires_at = expires_at or now + dt.timedelta(hours=8)
        link.refresh_token_issued_at = now
        link.last_refreshed_at = now
        link.token_version += 1
        missing = [s for s in settings.TESLA_REQUIRED_SCOPES if s not in link.scopes]
        if missing or not refresh_token:
            link.health = TeslaLink.Health.NEEDS_RELINK
            link.health_reason = "missing scopes: " + ", ".join(missing or ["offline_access"])
        else:
            link.health = TeslaLink.Health.OK
            link.health_reason = ""
        link.health_changed_at = now
        link.save()
    return link


def link_unlink(*, link: TeslaLink) -> None:
    """Forget a linked Tesla account: its tokens and allauth's record of it."""
    with transaction.atomic():
        SocialAccount.objects.filter(
            user_id=link.user_id, provider=link.provider_id, uid=link.subject
        ).delete()
        link.delete()
