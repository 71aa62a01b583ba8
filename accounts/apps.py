from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is "Accounts" too: two sections of one name in the admin otherwise.
    verbose_name = _("Users and Tesla links")

    def ready(self) -> None:
        from accounts import signals  # noqa: F401 - connects the receivers
