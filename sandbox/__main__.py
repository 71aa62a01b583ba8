"""`python -m sandbox [--host H] [--port P] [--state-dir DIR] [--public-url URL] [--print-env]
[--portal-port P]
[--threads N] [--tls-cert CERT --tls-key KEY]
[--mqtt-url URL [--mqtt-topic-base BASE] [--time-scale N]]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from sandbox.app import DEFAULT_PUBLIC_URL, create_app
from sandbox.serving import DEFAULT_THREADS, bound_port, make_server
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
        "--portal-port",
        type=int,
        default=None,
        help="the demo clients accept redirect URIs of a portal on 127.0.0.1/localhost at this "
        "port (kept in the state; the seed's is 8000)",
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
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="worker threads: requests served at once (idle keep-alive connections need none)",
    )
    parser.add_argument(
        "--tls-cert", default=None, help="serve HTTPS with this PEM certificate (needs --tls-key)"
    )
    parser.add_argument("--tls-key", default=None, help="the certificate's PEM private key")
    parser.add_argument(
        "--key-fetch-https",
        action="store_true",
        help="fetch a loopback partner domain's key over https too (a rehearsal behind a TLS "
        "proxy; trust its CA with REQUESTS_CA_BUNDLE)",
    )
    return parser


def _public_url(args: argparse.Namespace, port: int) -> str:
    """--public-url, else the address served (the historical default for the default one)."""
    if args.public_url:
        return args.public_url
    scheme = "https" if args.tls_cert else "http"
    default = (args.host, args.port, scheme) == ("127.0.0.1", 8001, "http")
    return DEFAULT_PUBLIC_URL if default else f"{scheme}://{args.host}:{port}"


_stopping = threading.Event()


def _stop_on_signal(signum: int, frame: Any) -> None:
    # Honcho and systemd stop with SIGTERM, a person with Ctrl-C: the main thread, which only
    # waits, then stops the server and the stream. Raising from the handler instead would
    # land inside cheroot's serve loop, whose stop then sometimes hung.
    _stopping.set()


def print_env(world: World) -> None:
    with world.read() as data:
        by_server = {c["server"]: c for c in data["clients"].values() if c.get("seeded")}
    for prefix, server in (("TESLA", "global"), ("TESLA_CN", "cn")):
        client = by_server[server]
        print(f"{prefix}_CLIENT_ID={client['client_id']}")
        print(f"{prefix}_CLIENT_SECRET={client['secret']}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    world = World(args.state_dir)
    if args.portal_port is not None:
        world.serve_portal_on(args.portal_port)
    if args.print_env:
        print_env(world)
        return 0
    app = create_app(world=world)
    app.config["SANDBOX_KEY_FETCH_HTTPS"] = args.key_fetch_https
    # Bind before printing, so --port 0 prints (and issues URLs with) the real port.
    server = make_server(
        app,
        args.host,
        args.port,
        threads=args.threads,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    public_url = _public_url(args, bound_port(server)).rstrip("/")
    app.config["SANDBOX_PUBLIC_URL"] = public_url
    print(f"Tesla sandbox on {public_url} (state: {args.state_dir or 'in memory'})", flush=True)
    publisher = None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_on_signal)
    serving = threading.Thread(target=server.serve, name="sandbox-server", daemon=True)
    try:
        publisher = _start_stream(args, world, app)
        serving.start()
        while not _stopping.wait(0.5) and serving.is_alive():
            pass
    finally:
        server.stop()
        serving.join(timeout=10)
        if publisher is not None:
            publisher.stop()
    return 0


def _start_stream(args: argparse.Namespace, world: World, app: Any) -> Publisher | None:
    """With --mqtt-url, start publishing the cars' telemetry stream."""
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
    return publisher


if __name__ == "__main__":
    sys.exit(main())
