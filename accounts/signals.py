"""Keep accounts.TeslaLink in step with allauth's record of a connected account."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.signals import social_account_removed
from django.dispatch import receiver

from accounts.models import TeslaLink
from accounts.tesla import PROVIDER_AUTH_SERVER


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
