"""`python -m sandbox [--host H] [--port P] [--state-dir DIR] [--public-url URL] [--print-env]
[--mqtt-url URL [--mqtt-topic-base BASE] [--time-scale N]]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from sandbox.app import DEFAULT_PUBLIC_URL, create_app
from sandbox.state import World
from sandbox.stream import Publisher


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--state-dir", default=None, help="persist the world here (e.g. var/sandbox)"
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="root URL clients see (default http://<host>:<port>)",
    )
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print TESLA_CLIENT_ID=... lines for the seeded demo clients and exit",
    )
    parser.add_argument(
        "--mqtt-url",
        default=None,
        help="publish the cars' telemetry stream to this broker (mqtt://host:1883, "
        "mqtts://user:pw@host:8883, ?version=3.1.1 for an MQTT 3.1.1-only broker)",
    )
    parser.add_argument(
        "--mqtt-topic-base", default="telemetry", help="the fleet-telemetry server's topic_base"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="stream simulation speed: 10 = intervals and drives pass 10x faster",
    )
    return parser


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # Honcho and systemd stop with SIGTERM: leave through `finally` so the stream stops.
    raise SystemExit(0)


def print_env(world: World) -> None:
    with world.read() as data:
        by_server = {c["server"]: c for c in data["clients"].values() if c.get("seeded")}
    for prefix, server in (("TESLA", "global"), ("TESLA_CN", "cn")):
        client = by_server[server]
        print(f"{prefix}_CLIENT_ID={client['client_id']}")
        print(f"{prefix}_CLIENT_SECRET={client['secret']}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    world = World(args.state_dir)
    if args.print_env:
        print_env(world)
        return 0
    public_url = args.public_url or (
        DEFAULT_PUBLIC_URL
        if (args.host, args.port) == ("127.0.0.1", 8001)
        else f"http://{args.host}:{args.port}"
    )
    app = create_app(world=world, public_url=public_url)
    print(f"Tesla sandbox on {public_url} (state: {args.state_dir or 'in memory'})", flush=True)
    publisher = None
    if args.mqtt_url:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        publisher = Publisher(
            world, args.mqtt_url, topic_base=args.mqtt_topic_base, time_scale=args.time_scale
        )
        app.extensions["sandbox_stream"] = publisher
        publisher.start()
        print(
            # The broker's address, not the URL: it may hold a password.
            f"Telemetry stream to {publisher.target.host}:{publisher.target.port} "
            f"under {publisher.topic_base}/ "
            f"(time scale {args.time_scale:g})",
            flush=True,
        )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        if publisher is not None:
            publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
