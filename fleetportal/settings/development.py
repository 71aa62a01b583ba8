"""Development: `make run`. Reads `.env`, prints email on the console."""

from __future__ import annotations

from fleetportal.settings.env import read_dot_env

read_dot_env()

from fleetportal.settings.base import *  # noqa: E402,F403
from fleetportal.settings.env import env  # noqa: E402

DEBUG = env.bool("DEBUG", default=True)
# Development only: a fixed, obviously unsafe key when `.env` provides none.
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-key-do-not-use-in-production")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Serve static files through whitenoise straight from the app folders, also with DEBUG off.
WHITENOISE_USE_FINDERS = True
