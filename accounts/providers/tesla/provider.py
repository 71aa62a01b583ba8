"""allauth OAuth2 providers for Tesla: one per authorization server (global, China).

Each has its own credentials and its own callback path, and allauth binds the OAuth state to
the provider that started the flow, so an answer can only complete at the server that asked.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider
from django.conf import settings
from django.utils import translation

from accounts.providers.tesla.views import TeslaChinaOAuth2Adapter, TeslaOAuth2Adapter


class TeslaAccount(ProviderAccount):
    def to_str(self) -> str:
        data = self.account.extra_data
        return data.get("email") or data.get("full_name") or super().to_str()


class TeslaProvider(OAuth2Provider):
    id = "tesla"
    name = "Tesla"
    auth_server = "global"
    account_class = TeslaAccount
    oauth2_adapter_class = TeslaOAuth2Adapter
    pkce_enabled_default = True

    def get_default_scope(self) -> list[str]:
        return list(settings.TESLA_SCOPES)

    def get_auth_params(self) -> dict[str, str]:
        # prompt=login: on a shared browser Tesla must ask who is signing in, or the portal
        # could silently link whichever Tesla account happens to be logged in there.
        return {"prompt": "login", **super().get_auth_params()}

    def get_auth_params_from_request(self, request: Any, action: Any) -> dict[str, str]:
        params = super().get_auth_params_from_request(request, action)
        params.setdefault("locale", "zh-CN" if translation.get_language() == "zh-hans" else "en-US")
        return params

    def extract_uid(self, data: dict[str, Any]) -> str:
        return str(data["sub"])

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        # Linking never changes the portal user's own name or email.
        return {}

    def extract_email_addresses(self, data: dict[str, Any]) -> list[Any]:
        return []


class TeslaChinaProvider(TeslaProvider):
    id = "tesla_cn"
    name = "Tesla China"
    auth_server = "cn"
    oauth2_adapter_class = TeslaChinaOAuth2Adapter

    @classmethod
    def get_package(cls) -> str:
        # Its own urls module, so its login and callback paths are its own.
        return "accounts.providers.tesla.china"


provider_classes = [TeslaProvider, TeslaChinaProvider]
