from django.apps import AppConfig


class TeslaProviderConfig(AppConfig):
    name = "accounts.providers.tesla"
    label = "tesla_provider"
    verbose_name = "Tesla (allauth providers)"
