from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = _("Telemetry")

    def ready(self) -> None:
        from fleetportal import health
        from telemetry.health import stream_report
        from telemetry.selectors import field_days, signal_days
        from usage import sources

        health.register("stream", stream_report)
        sources.register_signal_days(signal_days)
        sources.register_field_days(field_days)
