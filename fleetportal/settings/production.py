"""Production: refuses to start without its secrets; HTTPS everywhere."""

from __future__ import annotations

from fleetportal.settings.env import read_dot_env

read_dot_env()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from fleetportal.settings.base import *  # noqa: E402,F403
from fleetportal.settings.env import env  # noqa: E402

DEBUG = env.bool("DEBUG", default=False)
# No defaults: a missing SECRET_KEY, key ring or host list stops the process at start.
SECRET_KEY = env("SECRET_KEY")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")


def _check_key_ring(keys: list[str], secret_key: str) -> None:
    """Every ring entry must be a Fernet key, and none may be SECRET_KEY."""
    from cryptography.fernet import Fernet

    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    for key in keys:
        if key == secret_key:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must not contain SECRET_KEY.")
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key."
            ) from exc


_check_key_ring(FIELD_ENCRYPTION_KEYS, SECRET_KEY)

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)

ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Production runs behind one TLS proxy (README): trust its X-Forwarded-For, one hop.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=1)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The health probe is plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}
