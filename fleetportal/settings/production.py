"""Production: refuses to start on weak or development configuration; HTTPS everywhere.

Production reads the process environment only, never the development `.env` that `make run`
writes (DEBUG on, the Tesla sandbox, generated demo values).
"""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from fleetportal.settings.base import *  # noqa: F403
from fleetportal.settings.env import env

DEBUG = env.bool("DEBUG", default=False)
# No defaults: a missing SECRET_KEY, key ring or host list stops the process at start.
SECRET_KEY = env("SECRET_KEY", default="")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
# A small single-host install may keep SQLite (one file, light writes, backups are a copy;
# IMMEDIATE transactions serialise writers, see base.py). It must say so: the supported
# setup is PostgreSQL. The filesystem broker and a per-process cache have no such opt-in:
# they only work inside one host or one process, and the login limits need a shared cache.
ALLOW_SQLITE_IN_PRODUCTION = env.bool("ALLOW_SQLITE_IN_PRODUCTION", default=False)
# Mail says who sends it and links back to the portal: no development defaults
# (noreply@localhost, http://127.0.0.1:8000) in a message a user receives.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
PORTAL_PUBLIC_URL = env("PORTAL_PUBLIC_URL", default="")

# Values published in .env.example or used by development and tests: never a production
# secret (a test checks that every .env.example placeholder is listed here).
PLACEHOLDERS = {
    "change-me-to-50-random-characters",
    "replace-with-a-generated-fernet-key",
    "your-global-client-id",
    "your-global-client-secret",
    "your-china-client-id",
    "your-china-client-secret",
    "dev-insecure-key-do-not-use-in-production",
    "test-only-secret-key-not-for-any-deployment-0123456789",
    "dGVzdC1vbmx5LWZlcm5ldC1rZXktbm90LXNlY3JldCE=",
}
SHARED_CACHE_REFUSED = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}
BROKERS_REFUSED = {"filesystem", "memory"}


def _key_ring_problems(keys: list[str], secret_key: str) -> list[str]:
    """Every ring entry must be a Fernet key, and none may be SECRET_KEY."""
    from cryptography.fernet import Fernet

    if not keys:
        return ["FIELD_ENCRYPTION_KEYS is empty: set a generated Fernet key ring."]
    for key in keys:
        if key in PLACEHOLDERS:
            return ["FIELD_ENCRYPTION_KEYS holds a published placeholder: generate a key."]
        if key == secret_key:
            return ["FIELD_ENCRYPTION_KEYS must not contain SECRET_KEY."]
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return ["FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key."]
    return []


def _secret_key_problems(key: str) -> list[str]:
    # Django's own bar (check --deploy, security.W009): 50+ characters, 5+ distinct ones.
    if not key:
        return ["SECRET_KEY is not set: set 50 or more random characters."]
    if key in PLACEHOLDERS or key.startswith("django-insecure-"):
        return ["SECRET_KEY is a published placeholder: generate a random one."]
    if len(key) < 50 or len(set(key)) < 5:
        return ["SECRET_KEY is too weak: use 50 or more random characters."]
    return []


def _mail_problems(from_email: str, public_url: str) -> list[str]:
    problems = []
    local, at, domain = parseaddr(from_email)[1].lower().rpartition("@")
    if not (local and at) or "." not in domain or domain.endswith((".localhost", ".localdomain")):
        problems.append(
            "DEFAULT_FROM_EMAIL must be an address at a real mail domain "
            "(Fleet Portal <noreply@portal.example.com>), not unset or @localhost."
        )
    url = urlsplit(public_url)
    if url.scheme != "https" or not url.hostname:
        problems.append(
            "PORTAL_PUBLIC_URL must be the portal's https:// address (mail links and Tesla "
            "reach the portal there)."
        )
    return problems


def _tesla_env_problems(tesla_env: str, rehearsal: bool, sandbox_url: str) -> list[str]:
    """Real Tesla, or the sandbox over HTTPS when TESLA_REHEARSAL says this is a rehearsal."""
    if not rehearsal:
        if tesla_env != "production":
            return [
                "TESLA_ENV must be 'production' in production, not the sandbox (to rehearse "
                "against the sandbox, set TESLA_REHEARSAL=true: docs/rehearsal.md)."
            ]
        return []
    if tesla_env != "sandbox":
        return ["TESLA_REHEARSAL is on: set TESLA_ENV=sandbox, or turn TESLA_REHEARSAL off."]
    if urlsplit(sandbox_url).scheme != "https":
        return [
            "TESLA_REHEARSAL is on: TESLA_SANDBOX_URL must be the sandbox's https:// address "
            "(python -m sandbox --tls-cert ... --tls-key ...)."
        ]
    return []


def production_problems() -> list[str]:
    """One sentence per refused setting, each naming the variable to change."""
    problems = _secret_key_problems(SECRET_KEY)
    problems += _key_ring_problems(FIELD_ENCRYPTION_KEYS, SECRET_KEY)
    problems += _mail_problems(DEFAULT_FROM_EMAIL, PORTAL_PUBLIC_URL)
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is not set: list the host names the portal serves.")
    elif any("*" in host for host in ALLOWED_HOSTS):
        problems.append("ALLOWED_HOSTS must list host names, not the wildcard '*'.")
    if DEBUG:
        problems.append("DEBUG must be off in production.")
    problems += _tesla_env_problems(TESLA_ENV, TESLA_REHEARSAL, TESLA_SANDBOX_URL)  # noqa: F405
    for name in (
        "TESLA_CLIENT_ID",
        "TESLA_CLIENT_SECRET",
        "TESLA_CN_CLIENT_ID",
        "TESLA_CN_CLIENT_SECRET",
    ):
        if globals()[name] in PLACEHOLDERS:
            problems.append(f"{name} is the .env.example placeholder: set the real value.")
    if CACHES["default"]["BACKEND"] in SHARED_CACHE_REFUSED:  # noqa: F405
        problems.append(
            "CACHE_URL must name a cache every process shares (redis://…): login limits "
            "counted per process let a password guesser through."
        )
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not (  # noqa: F405
        ALLOW_SQLITE_IN_PRODUCTION
    ):
        problems.append(
            "DATABASE_URL must name PostgreSQL (postgres://…); a single-host install may keep "
            "SQLite with ALLOW_SQLITE_IN_PRODUCTION=true."
        )
    if urlsplit(CELERY_BROKER_URL).scheme in BROKERS_REFUSED:  # noqa: F405
        problems.append("CELERY_BROKER_URL must name Redis or RabbitMQ (redis://…, amqp://…).")
    return problems


_problems = production_problems()
if _problems:
    raise ImproperlyConfigured(" ".join(_problems))

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
# Seconds a mail server may keep us waiting: without a limit one that accepts the connection
# and never answers blocks the worker (the silence watch) or the web request for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

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
