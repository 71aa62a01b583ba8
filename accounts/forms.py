from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django import forms
from django.utils.translation import gettext_lazy as _

from fleetportal import tesla
from teslafleet.regions import normalise_base_url


class PasteCallbackForm(forms.Form):
    """The URL Tesla redirected to, copied from a callback page outside the portal."""

    callback_url = forms.URLField(
        label=_("Callback URL"),
        max_length=4000,
        assume_scheme="https",
        help_text=_("The whole address shown after you approved access at Tesla."),
    )

    def clean_callback_url(self) -> str:
        url = self.cleaned_data["callback_url"]
        query = parse_qs(urlsplit(url).query)
        if "state" not in query or ("code" not in query and "error" not in query):
            raise forms.ValidationError(
                _("This address has no sign-in result in it (it needs a state and a code).")
            )
        self.query = urlsplit(url).query
        self.provider_id = self._provider_for(query)
        return url

    @staticmethod
    def _provider_for(query: dict[str, list[str]]) -> str:
        issuer = (query.get("issuer") or [""])[0]
        if not issuer:
            return "tesla"
        for provider_id, server_key in tesla.PROVIDER_AUTH_SERVER.items():
            if normalise_base_url(tesla.auth_server(server_key).issuer) == normalise_base_url(
                issuer
            ):
                return provider_id
        raise forms.ValidationError(_("This address comes from an unknown Tesla sign-in server."))
