"""Write the development `.env`: generated secrets, kept across runs (idempotent).

Only adds what is missing (and follows the sandbox's demo client credentials), so running
`make run` twice changes nothing and a developer's own edits survive. Never used in
production, where the operator sets the environment.

`--port P` (`make run PORT=P`) moves the whole development set together: the portal on P,
the sandbox on P+1, the MQTT broker on P+2 (8000, 8001 and 1884 by default). The ports go
into `.env` as DEV_PORT, DEV_SANDBOX_PORT and DEV_MQTT_PORT, which Procfile.dev reads; the
URLs that name a port on 127.0.0.1 (PORTAL_PUBLIC_URL, TESLA_SANDBOX_URL,
TELEMETRY_MQTT_URL) follow, while a URL the developer pointed elsewhere (a tunnel) is kept;
and the sandbox's demo clients accept redirect URIs on P (`--portal-port`).
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
DOT_ENV = ROOT / ".env"
SANDBOX_STATE = ROOT / "var/sandbox"
DEFAULT_PORT = 8000
DEFAULT_MQTT_PORT = 1884
# A value of ours for some other port: moved when the port moves (anything else is kept).
LOCAL_URL = re.compile(r"(http|mqtt)://127\.0\.0\.1:\d+(\?version=3\.1\.1)?")


def read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def ports(
    port: int = DEFAULT_PORT, sandbox_port: int | None = None, mqtt_port: int | None = None
) -> dict[str, int]:
    """The development ports: the sandbox on port+1, the broker on port+2 (or 1884 at 8000)."""
    if mqtt_port is None:
        mqtt_port = DEFAULT_MQTT_PORT if port == DEFAULT_PORT else port + 2
    return {
        "DEV_PORT": port,
        "DEV_SANDBOX_PORT": sandbox_port or port + 1,
        "DEV_MQTT_PORT": mqtt_port,
    }


def port_settings(dev_ports: dict[str, int]) -> dict[str, str]:
    """What follows the ports: Procfile.dev's DEV_* and the URLs naming them."""
    return {
        **{key: str(value) for key, value in dev_ports.items()},
        # Development talks to the Tesla sandbox (`python -m sandbox`, started by make run).
        "TESLA_SANDBOX_URL": f"http://127.0.0.1:{dev_ports['DEV_SANDBOX_PORT']}",
        # Also the partner domain registered in the sandbox (its host and port), where the
        # sandbox fetches the portal's public key.
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{dev_ports['DEV_PORT']}",
        # The stream: `make run` starts its own MQTT broker (scripts/mqtt_broker.py, amqtt,
        # MQTT 3.1.1 only) on 1884, so the machine's broker, if any, is left alone.
        "TELEMETRY_MQTT_URL": f"mqtt://127.0.0.1:{dev_ports['DEV_MQTT_PORT']}?version=3.1.1",
    }


def wanted() -> dict[str, str]:
    return {
        "DEBUG": "True",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "TESLA_ENV": "sandbox",
        "TESLA_ALLOWED_ORIGINS": "127.0.0.1,localhost",
    }


def follows_port(key: str, current: str | None) -> bool:
    """DEV_* always follow the port; a URL only while it is ours (a local port)."""
    return key.startswith("DEV_") or current is None or bool(LOCAL_URL.fullmatch(current))


def sandbox_credentials(portal_port: int) -> dict[str, str]:
    """The sandbox's demo client credentials (created with its persisted state if needed);
    its demo clients now accept redirect URIs of a portal on `portal_port`."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [
            sys.executable,
            "-m",
            "sandbox",
            "--print-env",
            "--state-dir",
            str(SANDBOX_STATE),
            "--portal-port",
            str(portal_port),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def write(values: dict[str, str]) -> None:
    lines = (
        DOT_ENV.read_text().splitlines()
        if DOT_ENV.exists()
        else ["# Development settings written by `make run`; never commit this file."]
    )
    kept = [line for line in lines if line.partition("=")[0].strip() not in values]
    DOT_ENV.write_text("\n".join(kept + [f"{k}={v}" for k, v in values.items()]) + "\n")
    DOT_ENV.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the portal's port")
    parser.add_argument("--sandbox-port", type=int, default=None, help="default: port + 1")
    parser.add_argument(
        "--mqtt-port", type=int, default=None, help="default: port + 2 (1884 with port 8000)"
    )
    args = parser.parse_args(argv)
    dev_ports = ports(args.port, args.sandbox_port or None, args.mqtt_port or None)
    existing = read(DOT_ENV)
    changes = {k: v for k, v in wanted().items() if k not in existing}
    for key, value in port_settings(dev_ports).items():
        if existing.get(key) != value and follows_port(key, existing.get(key)):
            changes[key] = value
    # The sandbox's state is the source of truth for its demo clients: follow it.
    for key, value in sandbox_credentials(args.port).items():
        if existing.get(key) != value:
            changes[key] = value
    if changes:
        write(changes)
        print(f"wrote {', '.join(changes)} to {DOT_ENV.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
