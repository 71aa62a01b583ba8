"""allauth OAuth2 providers for Tesla: one per authorization server (global, China).

Each has its own credentials and its own callback path, and allauth binds the OAuth state to
the provider that started the flow, so an answer can only complete at the server that asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.base import AuthProcess, ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider
from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.providers.tesla.views import TeslaChinaOAuth2Adapter, TeslaOAuth2Adapter

if TYPE_CHECKING:
    from accounts.models import TeslaLink


class TeslaAccount(ProviderAccount):
    def to_str(self) -> str:
        data = self.account.extra_data
        return data.get("email") or data.get("full_name") or super().to_str()


class TeslaProvider(OAuth2Provider):
    id = TeslaOAuth2Adapter.provider_id
    # Shown on allauth's pages ("Connect …", the connections list): in the reader's language.
    name = _("Tesla (Global)")
    account_class = TeslaAccount
    oauth2_adapter_class = TeslaOAuth2Adapter
    pkce_enabled_default = True

    def get_default_scope(self) -> list[str]:
        return list(settings.TESLA_SCOPES)

    # Parameters of the authorize URL that only the provider sets (state, PKCE, scope, where
    # the answer goes): nothing from settings' AUTH_PARAMS may replace them.
    RESERVED_PARAMS = frozenset(
        {
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "prompt",
        }
    )

    def get_auth_params(self) -> dict[str, str]:
        configured = super().get_auth_params()
        params = {k: v for k, v in configured.items() if k not in self.RESERVED_PARAMS}
        # prompt=login: on a shared browser Tesla must ask who is signing in, or the portal
        # could silently link whichever Tesla account happens to be logged in there.
        params["prompt"] = "login"
        params.setdefault("locale", "zh-CN" if translation.get_language() == "zh-hans" else "en-US")
        return params

    def get_auth_params_from_request(self, request: Any, action: Any) -> dict[str, str]:
        # allauth would merge a `?auth_params=` query parameter over ours (prompt=none, state,
        # scope, redirect_uri...): a crafted link could then sign in silently. Ignored.
        return self.get_auth_params()

    def get_scope_from_request(self, request: Any) -> list[str]:
        # Likewise `?scope=`: the scopes asked for are the portal's, whatever the query says.
        return self.get_scope()

    def redirect(
        self, request: Any, process: Any, next_url: Any = None, data: Any = None, **kwargs: Any
    ) -> HttpResponse:
        # Tesla accounts are only linked (connect), from the dashboard: a crafted login URL is
        # refused here, before Tesla is asked anything and before any code is spent.
        get_adapter(request).refuse_unless_linking(request, process)
        return super().redirect(request, process, next_url=next_url, data=data, **kwargs)

    def redirect_to_relink(self, request: Any, *, link: TeslaLink) -> HttpResponse:
        """Start a relink bound to this link: the answer must be the same Tesla account.

        The expected account travels in allauth's state for this flow (kept in the session),
        so the callback can refuse another one before anything is stored.
        """
        auth_params = self.get_auth_params()
        # Tesla then asks again for the scopes the user had unticked:
        # https://developer.tesla.com/docs/fleet-api/authentication/third-party-tokens
        auth_params["prompt_missing_scopes"] = "true"
        return self.redirect(
            request,
            AuthProcess.CONNECT,
            auth_params=auth_params,
            scope=self.get_scope(),
            relink={
                "link": link.pk,
                "subject": link.subject,
                "account": link.email or link.full_name or link.subject,
            },
        )

    def extract_uid(self, data: dict[str, Any]) -> str:
        return str(data["sub"])

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        # Linking never changes the portal user's own name or email.
        return {}

    def extract_email_addresses(self, data: dict[str, Any]) -> list[Any]:
        return []


class TeslaChinaProvider(TeslaProvider):
    id = TeslaChinaOAuth2Adapter.provider_id
    name = _("Tesla (China)")
    oauth2_adapter_class = TeslaChinaOAuth2Adapter

    @classmethod
    def get_package(cls) -> str:
        # Its own urls module, so its login and callback paths are its own.
        return "accounts.providers.tesla.china"


provider_classes = [TeslaProvider, TeslaChinaProvider]
