"""`python -m sandbox [--host H] [--port P] [--state-dir DIR] [--public-url URL] [--print-env]`."""

from __future__ import annotations

import argparse
import sys

from sandbox.app import DEFAULT_PUBLIC_URL, create_app
from sandbox.state import World


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
    return parser


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
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
