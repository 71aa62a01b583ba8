"""Signals accounts sends, and its receivers of allauth's.

accounts sits below vehicles and telemetry: it tells them things through signals, it never
imports them.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.signals import social_account_removed
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import Signal, receiver

from accounts.models import TeslaLink
from fleetportal.tesla import PROVIDER_AUTH_SERVER

# A link was stored with a newly issued token pair (a new link or a relink). Sent once the
# transaction that stored it has committed; arguments: sender=TeslaLink, link.
link_connected = Signal()


@receiver(social_account_removed)
def forget_link_of_removed_account(
    sender: Any, request: Any, socialaccount: Any, **kw: Any
) -> None:
    # allauth's own "connections" page can disconnect an account; the tokens must go too.
    server = PROVIDER_AUTH_SERVER.get(socialaccount.provider)
    if server:
        TeslaLink.objects.filter(
            user_id=socialaccount.user_id, auth_server=server, subject=socialaccount.uid
        ).delete()


@receiver(user_logged_in)
def keep_language_chosen_before_signing_in(sender: Any, request: Any, user: Any, **kw: Any) -> None:
    # A language picked before signing in (the switcher's cookie) becomes the profile's when it
    # has none yet; a saved one wins (accounts.middleware applies it from this request on).
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "") if request else ""
    if chosen and not user.language:
        # Imported here: accounts.services imports this module (link_connected).
        from accounts.services import user_language_set

        user_language_set(user=user, language=chosen)
