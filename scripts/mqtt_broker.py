"""The embedded MQTT broker of `make run` (amqtt, MQTT 3.1.1 only), for machines without one.

    .venv/bin/python scripts/mqtt_broker.py [--host 127.0.0.1] [--port 1884]

Production and CI use a real broker (Mosquitto, EMQX, HiveMQ); this one keeps `make run`
self-contained. Open to every local client, sessions in memory (a restart forgets them).
amqtt keeps no persistent session (and no queued QoS 1 message) for a client it marks
anonymous, so the plugin below admits everyone without that mark: the stream consumer's
session survives it being stopped or killed, as it would on Mosquitto.

amqtt 0.12 also forgets a QoS 1 message it sent when the client's PUBACK does not come
within 5 s or the connection drops first (github.com/Yakifo/amqtt issue #401), which breaks
at-least-once delivery for a consumer that acknowledges after storing. patch_qos1_delivery()
keeps such a message in the session until its PUBACK and resends it on reconnect, as MQTT
3.1.1 §4.4 requires.
The portal connects with TELEMETRY_MQTT_URL=mqtt://127.0.0.1:1884?version=3.1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import dataclass


def _plugin_class():
    from amqtt.plugins.base import BaseAuthPlugin

    class LocalAuthPlugin(BaseAuthPlugin):
        """Admits every client (the listener is on localhost) with a persistent session."""

        @dataclass
        class Config:
            pass

        async def authenticate(self, *, session) -> bool:
            session.is_anonymous = False
            return True

    return LocalAuthPlugin


def patch_qos1_delivery() -> None:
    from amqtt.mqtt.protocol import handler

    original = handler.ProtocolHandler._handle_qos1_message_flow
    if getattr(original, "patched_for_redelivery", False):
        return

    async def qos1_flow(self, app_message) -> None:
        if app_message.direction != handler.OUTGOING or app_message.puback_packet:
            return await original(self, app_message)
        packet_id = app_message.packet_id
        if isinstance(app_message, handler.OutgoingApplicationMessage):
            self.session.inflight_out.setdefault(packet_id, app_message)
        retry = app_message.publish_packet is not None
        publish_packet = app_message.build_publish_packet(dup=retry)
        await self._send_packet(publish_packet)
        app_message.publish_packet = publish_packet
        waiter = asyncio.Future()
        self._puback_waiters[packet_id] = waiter
        try:
            # No deadline while connected (a resend is only allowed on reconnect); a dropped
            # connection cancels the waiter and the message stays in flight for the next one.
            app_message.puback_packet = await waiter
        finally:
            self._puback_waiters.pop(packet_id, None)
        self.session.inflight_out.pop(packet_id, None)

    qos1_flow.patched_for_redelivery = True
    handler.ProtocolHandler._handle_qos1_message_flow = qos1_flow


def __getattr__(name: str):  # amqtt imports its plugins by dotted name
    if name == "LocalAuthPlugin":
        return _plugin_class()
    raise AttributeError(name)


def config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {f"{__name__}.LocalAuthPlugin": {}},
    }


async def serve(host: str, port: int) -> None:
    from amqtt.broker import Broker

    patch_qos1_delivery()
    broker = Broker(config(host, port))
    await broker.start()
    logging.getLogger("mqtt_broker").info("MQTT broker (amqtt) on %s:%s", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    # amqtt's shutdown can wait on a client's open handshakes: do not let it hang the stop.
    try:
        await asyncio.wait_for(broker.shutdown(), timeout=5)
    except (TimeoutError, asyncio.CancelledError):
        logging.getLogger("mqtt_broker").warning("broker shutdown timed out; exiting")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1884)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    logging.getLogger("mqtt_broker").setLevel(logging.INFO)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
