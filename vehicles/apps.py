from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VehiclesConfig(AppConfig):
    name = "vehicles"
    verbose_name = _("Vehicles")

    def ready(self) -> None:
        from accounts.signals import link_connected
        from vehicles import receivers

        link_connected.connect(receivers.sync_connected_link, dispatch_uid="vehicles_sync_link")
