"""allauth policy for Tesla: connect only, apps from settings, clear errors, encrypted tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base.constants import AuthError, AuthProcess
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import services
from accounts.providers.tesla.views import (
    IssuerMismatch,
    IssuerMissing,
    PkceMissing,
    ProfileLookupFailed,
    TokenExchangeFailed,
)
from fleetportal import tesla
from teslafleet.fleet import NotRegisteredInRegion


class PortalSite:
    """What allauth's emails call the site ("Hello from …", "Thank you for using …"): the
    portal's name and the host of PORTAL_PUBLIC_URL, not the host the request came in on."""

    def __init__(self) -> None:
        self.name = settings.PORTAL_NAME or gettext_lazy("Fleet Portal")
        self.domain = urlsplit(settings.PORTAL_PUBLIC_URL).netloc or settings.PORTAL_PUBLIC_URL

    def __str__(self) -> str:
        return str(self.name)


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        context = {"current_site": PortalSite(), **context}
        # A known user's mail (confirmation, password reset) in the language saved on their
        # profile, whatever the language of the request that sent it.
        language = getattr(context.get("user"), "language", "")
        if language not in dict(settings.LANGUAGES):
            super().send_mail(template_prefix, email, context)
            return
        with translation.override(language):
            super().send_mail(template_prefix, email, context)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(
        self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None
    ) -> list[SocialApp]:
        # The Tesla applications come from settings (one per authorization server), read at
        # call time; nothing is kept in allauth's SocialApp table.
        apps = []
        for provider_id, server in tesla.PROVIDER_AUTH_SERVER.items():
            creds = tesla.credentials(server)
            if provider not in (None, provider_id) or not creds.configured:
                continue
            if client_id not in (None, creds.client_id):
                continue
            apps.append(
                SocialApp(
                    provider=provider_id,
                    name=provider_id,
                    client_id=creds.client_id,
                    secret=creds.client_secret,
                )
            )
        return apps

    def get_provider(self, request: HttpRequest, provider: str, client_id: str | None = None):
        server = tesla.PROVIDER_AUTH_SERVER.get(provider)
        if server is not None and not tesla.credentials(server).configured:
            # A button press on an unconfigured server explains itself instead of a 500.
            client_setting, secret_setting = tesla.credential_settings(server)
            self._fail(
                request,
                _(
                    "Linking is not configured for this Tesla server: the operator must set "
                    "%(id)s and %(secret)s."
                )
                % {"id": client_setting, "secret": secret_setting},
            )
        return super().get_provider(request, provider, client_id=client_id)

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return False

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount: Any) -> str:
        return reverse("dashboard")

    def refuse_unless_linking(self, request: HttpRequest, process: str) -> None:
        """Signing in to the portal with Tesla is not a thing: only a signed-in user links."""
        if process != AuthProcess.CONNECT or not request.user.is_authenticated:
            self._fail(
                request,
                _("Tesla accounts can only be linked from your dashboard, after signing in."),
            )

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        self.refuse_unless_linking(request, sociallogin.state.get("process"))
        relink = sociallogin.state.get("relink")
        if relink and sociallogin.account.uid != relink["subject"]:
            # Relink restores the account it was pressed for; the other account's tokens are
            # dropped here, unstored.
            self._fail(
                request,
                _(
                    "You signed in at Tesla as a different account than the one you pressed "
                    "Relink for. Nothing was changed; please relink again and sign in as "
                    "%(account)s."
                )
                % {"account": relink["account"]},
            )
        if sociallogin.is_existing and sociallogin.user != request.user:
            self._fail(request, _("This Tesla account is already linked to another portal user."))
        token = sociallogin.token
        try:
            # The stored link's health is what allauth's "connected" message must not
            # contradict (socialaccount/messages/account_connected*.txt read it).
            request.tesla_link_stored = services.link_store(
                user=request.user,
                profile=sociallogin.account.extra_data,
                access_token=token.token,
                refresh_token=token.token_secret,
                expires_at=token.expires_at,
            )
        except services.LinkOwnedByAnotherUser:
            self._fail(request, _("This Tesla account is already linked to another portal user."))

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        self._fail(request, link_error_message(error, exception, extra_context or {}))

    def _fail(self, request: HttpRequest, message: str) -> None:
        messages.error(request, message)
        raise ImmediateHttpResponse(
            redirect("dashboard" if request.user.is_authenticated else "home")
        )


def link_error_message(error: Any, exception: Any, context: dict[str, Any]) -> str:
    """One clear sentence for each way linking can fail (shown translated)."""
    if error == AuthError.CANCELLED:
        return _("You cancelled at Tesla. No account was linked.")
    if isinstance(exception, IssuerMissing):
        return _(
            "Tesla's answer did not name the sign-in server it came from. Nothing was linked; "
            "please start again."
        )
    if isinstance(exception, IssuerMismatch):
        return _(
            "The answer came from a different Tesla sign-in server than the one this link was "
            "started with. Nothing was linked; please start again."
        )
    if isinstance(exception, PkceMissing):
        return _(
            "This sign-in could not be checked (its PKCE verifier is missing). Nothing was "
            "linked; please start again."
        )
    if isinstance(exception, TokenExchangeFailed):
        failure = exception.error
        if failure.transient:
            return _(
                "Tesla's sign-in server did not answer in time. Nothing was linked; please try "
                "again in a few minutes."
            )
        if failure.error == "invalid_auth_code":
            return _(
                "Tesla refused the sign-in code: it expired or was already used. Please start "
                "again."
            )
        if failure.error == "invalid_redirect_url":
            return _(
                "Tesla reports that the redirect URI does not match the one registered for this "
                "portal. Ask the operator to check the redirect URI settings."
            )
        if failure.error == "unauthorized_client":
            return _(
                "Tesla refused this portal's client credentials. Ask the operator to check the "
                "Tesla client id and secret."
            )
        return _("Tesla refused the sign-in (%(error)s). Nothing was linked.") % {
            "error": failure.error or failure.status
        }
    if isinstance(exception, ProfileLookupFailed) and isinstance(
        exception.error, NotRegisteredInRegion
    ):
        return _(
            "This portal is not yet registered with Tesla in your account's region. Nothing was "
            "linked; ask the operator to register the portal in every region."
        )
    if isinstance(exception, ProfileLookupFailed):
        return _(
            "Tesla issued a token but could not tell the account's region (%(error)s). Nothing "
            "was linked; please try again later."
        ) % {"error": exception.error.error or exception.error.status}
    if exception is None and context.get("state") is None:
        # allauth found no stashed state for this answer: missing, forged, reused, expired,
        # from another session, or meant for the other provider's callback.
        return _(
            "This link request could not be verified: it expired, was already used, or was "
            "started in another browser session. Nothing was linked; please start again "
            "from your dashboard."
        )
    return _("Linking the Tesla account failed. Nothing was linked; please start again.")
