"""The OAuth2 adapters: authorize and token URLs from the region table, the code exchange
through the portal's Tesla library (with `audience`), and the issuer check."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from django.http import HttpRequest

from accounts import services
from fleetportal import tesla
from teslafleet import oauth
from teslafleet.errors import TeslaError
from teslafleet.regions import normalise_base_url


class IssuerMismatch(OAuth2Error):
    """The callback's `issuer` is not the server this flow was started with."""


class IssuerMissing(OAuth2Error):
    """The callback has no `issuer`, which Tesla always sends."""


class PkceMissing(OAuth2Error):
    """The flow's state holds no PKCE code verifier: the portal always sends a challenge."""


class TokenExchangeFailed(OAuth2Error):
    """Tesla's token endpoint refused the code or did not answer; carries the OAuthError."""

    def __init__(self, error: oauth.OAuthError) -> None:
        super().__init__(error.error or "token_exchange_failed")
        self.error = error


class ProfileLookupFailed(ProviderException):
    """The token was issued, but /users/region (or /users/me) failed."""

    def __init__(self, error: TeslaError) -> None:
        super().__init__(str(error))
        self.error = error


class TeslaOAuth2Adapter(OAuth2Adapter):
    # Which authorization server this provider talks to: fleetportal.tesla holds the mapping.
    auth_server_key = "global"
    provider_id = tesla.provider_id(auth_server_key)
    # Tesla's cancel redirect says error=login_cancelled (§1.3), not access_denied.
    login_cancelled_error = "login_cancelled"

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request)
        self._tokens: oauth.TokenSet | None = None

    @property
    def authorize_url(self) -> str:  # type: ignore[override]
        return tesla.auth_server(self.auth_server_key).authorize_url

    @property
    def access_token_url(self) -> str:  # type: ignore[override]
        return tesla.auth_server(self.auth_server_key).token_url

    def get_callback_url(self, request: HttpRequest, app: Any) -> str:
        configured = tesla.credentials(self.auth_server_key).redirect_uri
        return configured or super().get_callback_url(request, app)

    def get_access_token_data(
        self, request: HttpRequest, app: Any, client: Any, pkce_code_verifier: str | None = None
    ) -> dict[str, Any]:
        server = tesla.auth_server(self.auth_server_key)
        issuer = request.GET.get("issuer")
        # Tesla appends `issuer` to the callback (§1.3). The state already binds the flow
        # to its provider; a missing or foreign issuer is refused as well, before the code is
        # spent.
        if not issuer:
            raise IssuerMissing("issuer missing")
        if normalise_base_url(issuer) != normalise_base_url(server.issuer):
            raise IssuerMismatch("issuer mismatch")
        # allauth keeps the verifier in the flow's state when PKCE is on, as it always is here
        # (pkce_enabled_default); without one the code is not spent.
        if not pkce_code_verifier:
            raise PkceMissing("pkce code verifier missing")
        try:
            tokens = oauth.exchange_code(
                server,
                client_id=app.client_id,
                client_secret=app.secret,
                # allauth's callback view answers a callback without `code` as an error
                # before it calls this method.
                code=request.GET["code"],
                redirect_uri=self.get_callback_url(request, app),
                audience=tesla.default_audience(self.auth_server_key),
                code_verifier=pkce_code_verifier,
                session=tesla.http_session(),
            )
        except oauth.OAuthError as exc:
            raise TokenExchangeFailed(exc) from exc
        self.did_fetch_access_token = True
        self._tokens = tokens
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token or "",
            "expires_in": tokens.expires_in,
        }

    def complete_login(self, request: HttpRequest, app: Any, token: Any, **kwargs: Any) -> Any:
        assert self._tokens is not None
        try:
            profile = services.tesla_profile(
                auth_server_key=self.auth_server_key, tokens=self._tokens
            )
        except TeslaError as exc:
            raise ProfileLookupFailed(exc) from exc
        # extra_data is stored by allauth in plaintext: it holds no token, only the profile.
        return self.get_provider().sociallogin_from_response(request, profile)


class TeslaChinaOAuth2Adapter(TeslaOAuth2Adapter):
    auth_server_key = "cn"
    provider_id = tesla.provider_id(auth_server_key)


oauth2_login = OAuth2LoginView.adapter_view(TeslaOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(TeslaOAuth2Adapter)
