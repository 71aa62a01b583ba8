"""The one django-environ `env` every settings module reads."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def private_folder(folder: Path) -> Path:
    """`folder` (created if missing) readable by this user only: it holds data or tasks."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def read_dot_env() -> None:
    """Load `.env` (written by `make run`) without overriding the real environment."""
    path = BASE_DIR / ".env"
    if env.bool("DJANGO_READ_DOT_ENV", default=True) and path.exists():
        env.read_env(str(path), overwrite=False)
