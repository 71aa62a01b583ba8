"""Write the development `.env`: generated secrets, kept across runs (idempotent).

Only adds what is missing, so running `make run` twice changes nothing and a developer's own
edits survive. Never used in production, where the operator sets the environment.
"""

from __future__ import annotations

import secrets
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
    }


def main() -> int:
    existing = read(DOT_ENV)
    missing = {k: v for k, v in wanted().items() if k not in existing}
    if missing:
        with DOT_ENV.open("a") as fh:
            if not existing:
                fh.write("# Development settings written by `make run`; never commit this file.\n")
            for key, value in missing.items():
                fh.write(f"{key}={value}\n")
        DOT_ENV.chmod(0o600)
        print(f"wrote {', '.join(missing)} to {DOT_ENV.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
