"""manage.py telemetry_stream: the long-running stream consumer (see docs/streaming.md)."""

from __future__ import annotations

import faulthandler
import logging
import signal

from django.core.management.base import BaseCommand

from telemetry.stream.client import Consumer, Options


class Command(BaseCommand):
    help = "Consume fleet-telemetry's MQTT stream into the portal (runs until SIGTERM)."

    def add_arguments(self, parser):
        parser.add_argument("--url", help="Broker URL (default: TELEMETRY_MQTT_URL).")
        parser.add_argument("--client-id", help="Fixed client id (TELEMETRY_MQTT_CLIENT_ID).")
        parser.add_argument(
            "--shared-group", help="Shared subscription group (TELEMETRY_MQTT_SHARED_GROUP)."
        )
        parser.add_argument("--topic-base", help="Topic base (TELEMETRY_MQTT_TOPIC_BASE).")
        parser.add_argument("--flush-seconds", type=float, help="Flush at least this often.")
        parser.add_argument("--flush-messages", type=int, help="Flush at this many messages.")
        parser.add_argument(
            "--idle-flush-seconds", type=float, help="Flush when the stream pauses this long."
        )
        parser.add_argument("--heartbeat-seconds", type=float, help="Heartbeat interval.")

    def handle(self, *args, **options):
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        logging.getLogger("telemetry.stream").setLevel(logging.INFO)
        consumer = Consumer(
            Options.from_settings(
                url=options["url"],
                client_id=options["client_id"],
                shared_group=options["shared_group"],
                topic_base=options["topic_base"],
                flush_seconds=options["flush_seconds"],
                flush_messages=options["flush_messages"],
                idle_flush_seconds=options["idle_flush_seconds"],
                heartbeat_seconds=options["heartbeat_seconds"],
            )
        )
        consumer.install_signal_handlers()
        # `kill -USR1 <pid>` writes every thread's stack to stderr (the journal): what a
        # consumer that does not stop is waiting for.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        consumer.run()
