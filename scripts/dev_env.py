"""Write the development `.env`: generated secrets, kept across runs (idempotent).

Only adds what is missing (and follows the sandbox's demo client credentials), so running
`make run` twice changes nothing and a developer's own edits survive. Never used in
production, where the operator sets the environment.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
DOT_ENV = ROOT / ".env"


def read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def wanted() -> dict[str, str]:
    return {
        "DEBUG": "True",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        # Development talks to the Tesla sandbox (`python -m sandbox`, started by make run).
        "TESLA_ENV": "sandbox",
        "TESLA_SANDBOX_URL": "http://127.0.0.1:8001",
        "PORTAL_PUBLIC_URL": "http://127.0.0.1:8000",
        "TESLA_ALLOWED_ORIGINS": "127.0.0.1,localhost",
        # The stream: `make run` starts its own MQTT broker (scripts/mqtt_broker.py, amqtt,
        # MQTT 3.1.1 only) on 1884, so the machine's broker, if any, is left alone.
        "TELEMETRY_MQTT_URL": "mqtt://127.0.0.1:1884?version=3.1.1",
    }


def sandbox_credentials() -> dict[str, str]:
    """The sandbox's demo client credentials (created with its persisted state if needed)."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "sandbox", "--print-env", "--state-dir", str(ROOT / "var/sandbox")],
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


def main() -> int:
    existing = read(DOT_ENV)
    changes = {k: v for k, v in wanted().items() if k not in existing}
    # The sandbox's state is the source of truth for its demo clients: follow it.
    for key, value in sandbox_credentials().items():
        if existing.get(key) != value:
            changes[key] = value
    if changes:
        write(changes)
        print(f"wrote {', '.join(changes)} to {DOT_ENV.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
