"""Settings shared by every environment. Values come from the environment through `env`."""

from __future__ import annotations

from email.utils import getaddresses
from pathlib import Path

from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

from fleetportal.settings.env import BASE_DIR, VAR_DIR, env, private_folder

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "fleetportal.admin_config.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "accounts.providers.tesla",
    "fleetportal",
    "accounts",
    "partners",
    "vehicles",
    "telemetry",
    "usage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "fleetportal.csp.PortalCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before CommonMiddleware's Host check: the probe by IP from HEALTHZ_ALLOWED_NETWORKS.
    "fleetportal.health.HealthzProbeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After AuthenticationMiddleware: a signed-in user's saved language beats the cookie.
    "accounts.middleware.user_language_middleware",
]

# Content-Security-Policy on every response (django-csp): scripts and styles come from our
# own static files only; an inline <script> must carry {{ request.csp_nonce }} (none does).
# Pico's icons are data: SVGs in its CSS. fleetportal.csp adds Tesla's sign-in to form-action.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "fleetportal.urls"
WSGI_APPLICATION = "fleetportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "fleetportal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fleetportal.context_processors.rehearsal",
            ],
        },
    },
]

# Embedded default: SQLite under var/. DATABASE_URL switches to PostgreSQL with no code change.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# A Celery worker keeps its connections this many seconds across tasks, health-checked before
# reuse (fleetportal/workers.py); web processes follow CONN_MAX_AGE.
WORKER_CONN_MAX_AGE = env.int("WORKER_CONN_MAX_AGE", default=600)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if Path(DATABASES["default"]["NAME"]).parent == VAR_DIR:
        # var/ holds the embedded defaults' data (this database, the filesystem broker's
        # tasks): no other local user may read it. The file itself is made 0600 when SQLite
        # opens it (fleetportal.apps).
        private_folder(VAR_DIR)
    # SQLite has no row locks: IMMEDIATE transactions take the write lock at BEGIN, so a
    # select_for_update() block (the token refresh) still excludes every other writer, and
    # writers queue for up to `timeout` seconds instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# allauth's rate limits count in the cache: production must share one (CACHE_URL=redis://…).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-allauth: email is the login, verification is mandatory, rate limits stay at their
# defaults (on).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Fleet Portal] "
# The name allauth's emails greet with ("Hello from …"); empty: "Fleet Portal", translated.
PORTAL_NAME = env("PORTAL_NAME", default="")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env("ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="http")
# allauth's per-IP rate limits must count the client's address, not the proxy's. Behind N
# proxies you control that append X-Forwarded-For, set N; never without a proxy, since the
# header can be forged. Production defaults to one proxy (see README, deployment).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", default=None)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"

# Tesla accounts are linked (connect), never used to sign up or sign in. allauth keeps no
# tokens: SocialToken would hold them in plaintext; accounts.TeslaLink keeps them encrypted.
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_QUERY_EMAIL = False

# Tesla. TESLA_ENV picks the region table: "production" (real Tesla) or "sandbox" (the
# emulator at TESLA_SANDBOX_URL). Scopes default to what the portal uses.
TESLA_ENV = env("TESLA_ENV", default="production")
TESLA_SANDBOX_URL = env("TESLA_SANDBOX_URL", default="http://127.0.0.1:8001")
# A rehearsal (docs/rehearsal.md): production settings talking to the sandbox over HTTPS, said
# at start (log), on every page (banner) and by /healthz. Production refuses the sandbox without it.
TESLA_REHEARSAL = env.bool("TESLA_REHEARSAL", default=False)
TESLA_SCOPES = env.list(
    "TESLA_SCOPES",
    default=["openid", "offline_access", "user_data", "vehicle_device_data", "vehicle_location"],
)
# Without these the link cannot be kept alive or list vehicles: the user is asked to relink.
TESLA_REQUIRED_SCOPES = ["openid", "offline_access", "vehicle_device_data"]
TESLA_CLIENT_ID = env("TESLA_CLIENT_ID", default="")
TESLA_CLIENT_SECRET = env("TESLA_CLIENT_SECRET", default="")
TESLA_CN_CLIENT_ID = env("TESLA_CN_CLIENT_ID", default="")
TESLA_CN_CLIENT_SECRET = env("TESLA_CN_CLIENT_SECRET", default="")
# Set when the redirect URI registered at Tesla is not this portal's callback (e.g. a static
# page that shows the URL): the portal then offers a form to paste the callback URL.
TESLA_REDIRECT_URI = env("TESLA_REDIRECT_URI", default="")
TESLA_CN_REDIRECT_URI = env("TESLA_CN_REDIRECT_URI", default="")
# Token keeping: beat sweeps every TESLA_REFRESH_SWEEP_SECONDS (above) and refreshes links
# whose access token expires within the margin; transient failures retry with backoff.
TESLA_REFRESH_MARGIN_SECONDS = env.int("TESLA_REFRESH_MARGIN_SECONDS", default=3600)
TESLA_REFRESH_MAX_RETRIES = env.int("TESLA_REFRESH_MAX_RETRIES", default=5)
TESLA_REFRESH_RETRY_CAP_SECONDS = env.int("TESLA_REFRESH_RETRY_CAP_SECONDS", default=300)
TESLA_REFRESH_BATCH = env.int("TESLA_REFRESH_BATCH", default=500)
# The sweep hands the due links to workers in chunks of TESLA_REFRESH_CHUNK; a worker process
# refreshes a chunk on TESLA_REFRESH_THREADS threads, each holding a database connection
# (README, "Sizing the workers"). A chunk of a few times the threads keeps them all busy to
# its end.
TESLA_REFRESH_CHUNK = env.int("TESLA_REFRESH_CHUNK", default=32)
TESLA_REFRESH_THREADS = env.int("TESLA_REFRESH_THREADS", default=8)
# Vehicles: fleet_status asks about this many VINs per call; a sync retries transient errors.
VEHICLES_FLEET_STATUS_BATCH = env.int("VEHICLES_FLEET_STATUS_BATCH", default=50)
VEHICLES_SYNC_MAX_RETRIES = env.int("VEHICLES_SYNC_MAX_RETRIES", default=5)
# Telemetry: configs are re-signed and re-pushed this long before their `exp`; synced cars
# are checked again every TELEMETRY_RECHECK_SECONDS; VINs per push call; push retries.
TELEMETRY_RESIGN_MARGIN_SECONDS = env.int("TELEMETRY_RESIGN_MARGIN_SECONDS", default=86400)
TELEMETRY_RECHECK_SECONDS = env.int("TELEMETRY_RECHECK_SECONDS", default=21600)
TELEMETRY_PUSH_BATCH = env.int("TELEMETRY_PUSH_BATCH", default=100)
TELEMETRY_PUSH_MAX_RETRIES = env.int("TELEMETRY_PUSH_MAX_RETRIES", default=3)
# A push hands its linked accounts to workers in chunks of TELEMETRY_PUSH_CHUNK, one task per
# chunk; a worker process pushes a chunk on TESLA_REFRESH_THREADS threads (as the refresh).
TELEMETRY_PUSH_CHUNK = env.int("TELEMETRY_PUSH_CHUNK", default=32)
# Every run ends (telemetry pushes, vehicle syncs). A run whose worker showed no sign of life
# for *_STALE_SECONDS lost its task (worker killed, broker restarted): beat's runs sweep
# queues its remaining work again, up to *_MAX_REDISPATCHES times, then marks it failed. The
# stale bound must exceed the longest retry countdown (TESLA_REFRESH_RETRY_CAP_SECONDS).
TELEMETRY_RUN_STALE_SECONDS = env.int("TELEMETRY_RUN_STALE_SECONDS", default=900)
TELEMETRY_RUN_MAX_REDISPATCHES = env.int("TELEMETRY_RUN_MAX_REDISPATCHES", default=3)
VEHICLES_SYNC_STALE_SECONDS = env.int("VEHICLES_SYNC_STALE_SECONDS", default=1800)
VEHICLES_SYNC_MAX_REDISPATCHES = env.int("VEHICLES_SYNC_MAX_REDISPATCHES", default=2)
# The stream (docs/streaming.md): the consumer (`manage.py telemetry_stream`) reads the
# operator's fleet-telemetry server output from one MQTT broker URL (mqtt:// or mqtts://, with
# user:password@ when the broker wants them; ?version=3.1.1 for a broker without MQTT 5, such
# as the embedded one `make run` starts). TELEMETRY_MQTT_TOPIC_BASE is the server's
# `topic_base`; the client id is fixed so the broker keeps a persistent session; a non-empty
# TELEMETRY_MQTT_SHARED_GROUP subscribes through $share/<group>/ so several consumers split
# the stream.
# Error reports mask settings that may hold credentials in a URL (fleetportal/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "fleetportal.reporting.ReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "fleetportal.reporting.Reporter"
TELEMETRY_MQTT_URL = env("TELEMETRY_MQTT_URL", default="mqtt://127.0.0.1:1883")
TELEMETRY_MQTT_TOPIC_BASE = env("TELEMETRY_MQTT_TOPIC_BASE", default="telemetry")
TELEMETRY_MQTT_CLIENT_ID = env("TELEMETRY_MQTT_CLIENT_ID", default="fleet-portal-stream")
TELEMETRY_MQTT_SHARED_GROUP = env("TELEMETRY_MQTT_SHARED_GROUP", default="")
TELEMETRY_MQTT_CA_FILE = env("TELEMETRY_MQTT_CA_FILE", default="")
# Payloads over this many bytes are set aside (counted, never parsed).
TELEMETRY_STREAM_MAX_PAYLOAD = env.int("TELEMETRY_STREAM_MAX_PAYLOAD", default=65536)
# History: one point per bucket for fields marked "keep history", kept this many days (the
# cars' stream errors and alerts too).
TELEMETRY_HISTORY_BUCKET_SECONDS = env.int("TELEMETRY_HISTORY_BUCKET_SECONDS", default=60)
TELEMETRY_HISTORY_RETENTION_DAYS = env.int("TELEMETRY_HISTORY_RETENTION_DAYS", default=30)
# A vehicle is "streaming" while data came within its largest configured interval plus this
# slack, and "silent" after SILENT_FACTOR times that window without any.
TELEMETRY_STREAM_SLACK_SECONDS = env.int("TELEMETRY_STREAM_SLACK_SECONDS", default=120)
TELEMETRY_STREAM_SILENT_FACTOR = env.int("TELEMETRY_STREAM_SILENT_FACTOR", default=3)
TESLA_HTTP_TIMEOUT = (
    env.float("TESLA_CONNECT_TIMEOUT", default=5.0),
    env.float("TESLA_READ_TIMEOUT", default=20.0),
)
# The CA bundle (a PEM file) outbound Tesla calls trust; empty: certifi's, the public roots.
# Set only to rehearse against the sandbox served over HTTPS (sandbox/README.md).
TESLA_CA_BUNDLE = env("TESLA_CA_BUNDLE", default="")

# Partner onboarding (the operator's side). PORTAL_PUBLIC_URL is where Tesla and users reach
# the portal; TESLA_PARTNER_DOMAIN the bare host registered with Tesla (default: its host).
PORTAL_PUBLIC_URL = env("PORTAL_PUBLIC_URL", default="http://127.0.0.1:8000")
TESLA_PARTNER_DOMAIN = env("TESLA_PARTNER_DOMAIN", default="")
# The allowed origins configured in the Tesla developer application (pre-flight check).
TESLA_ALLOWED_ORIGINS = env.list("TESLA_ALLOWED_ORIGINS", default=[])
# When set, the application's private key lives in this file (mode 0600, outside static
# paths) instead of encrypted in the database.
TESLA_PRIVATE_KEY_FILE = env("TESLA_PRIVATE_KEY_FILE", default="")

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Fleet Portal <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
# Translations are gettext catalogues: the project's own strings (fleetportal's templates and
# code) in locale/, each app's in <app>/locale/. The apps' folders are listed here too, although
# Django finds them as installed apps, because LOCALE_PATHS outrank every installed app: the
# portal's "Name" stays 名称, not django_celery_beat's 任务名 (fleetportal/tests/test_i18n.py).
LOCALE_PATHS = [
    BASE_DIR / "locale",
    *(BASE_DIR / app / "locale" for app in ("accounts", "partners", "vehicles", "telemetry")),
]
USE_I18N = True
# The language cookie lasts a year (Django's default ends with the browser session);
# production makes it Secure and HttpOnly. Signed-in users' choice is on their profile too.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Celery. The embedded default broker is kombu's filesystem transport under var/, so a fresh
# machine needs no server; CELERY_BROKER_URL=redis://… (or amqp://…) switches with no code change.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")


def filesystem_broker_options(folder: Path) -> dict[str, object]:
    """Transport options for kombu's filesystem broker rooted at `folder` (created if missing).

    The folders are 0700: the task files kombu writes there (0644) carry ids and arguments.
    """
    if folder.parent == VAR_DIR:
        private_folder(VAR_DIR)
    for sub in ("queue", "processed", "control"):
        private_folder(folder / sub)
    private_folder(folder)
    return {
        # Producers and consumers share one folder: that folder is the queue.
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        Path(env("CELERY_FILESYSTEM_DIR", default=str(VAR_DIR / "broker")))
    )
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis redelivers an unacknowledged task after this many seconds (a lost worker host);
    # it must exceed the longest retry countdown (TESLA_REFRESH_RETRY_CAP_SECONDS).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# A task is acknowledged only after it ran, and a worker killed mid-task hands it back: the
# token refresh relies on this to survive a crash between Tesla's answer and our commit.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's DatabaseScheduler behind a lock: a second beat refuses to run
# (fleetportal/beat.py).
CELERY_BEAT_SCHEDULER = "fleetportal.beat:SingleBeatScheduler"
# The beat schedule is declared here, in code; the DatabaseScheduler mirrors it into the
# database, where staff can pause an entry in admin.
CELERY_BEAT_SCHEDULE = {
    # Sending it stamps beat's heartbeat for /healthz (fleetportal/health.py).
    "healthz-beat": {"task": "fleetportal.tasks.healthz_beat", "schedule": 60},
    # Estimated cost against USAGE_MONTHLY_BUDGET: the 80 % / 100 % emails and the pause.
    "usage-budget-check": {
        "task": "usage.tasks.usage_budget_check",
        "schedule": env.int("USAGE_BUDGET_CHECK_SECONDS", default=300),
    },
    "refresh-tesla-tokens": {
        "task": "accounts.tasks.links_refresh_sweep",
        "schedule": env.int("TESLA_REFRESH_SWEEP_SECONDS", default=300),
    },
    "sync-vehicles": {
        "task": "vehicles.tasks.vehicles_sync_sweep",
        "schedule": env.int("VEHICLES_SYNC_SWEEP_SECONDS", default=3600),
    },
    "telemetry-reconcile-sweep": {
        "task": "telemetry.tasks.telemetry_reconcile_sweep",
        "schedule": env.int("TELEMETRY_RECONCILE_SWEEP_SECONDS", default=120),
    },
    "telemetry-resign-sweep": {
        "task": "telemetry.tasks.telemetry_resign_sweep",
        "schedule": env.int("TELEMETRY_RESIGN_SWEEP_SECONDS", default=3600),
    },
    "telemetry-runs-sweep": {
        "task": "telemetry.tasks.telemetry_runs_sweep",
        "schedule": env.int("RUNS_SWEEP_SECONDS", default=300),
    },
    # Emails staff once per incident when a vehicle that was streaming goes silent.
    "telemetry-stream-watch": {
        "task": "telemetry.tasks.telemetry_stream_watch",
        "schedule": env.int("TELEMETRY_STREAM_WATCH_SECONDS", default=60),
    },
    "vehicles-sync-runs-sweep": {
        "task": "vehicles.tasks.vehicles_sync_runs_sweep",
        "schedule": env.int("RUNS_SWEEP_SECONDS", default=300),
    },
    "telemetry-history-purge": {
        "task": "telemetry.tasks.telemetry_history_purge",
        "schedule": env.int("TELEMETRY_HISTORY_PURGE_SECONDS", default=3600),
    },
    # Tesla fetches the public key again when a car pairs: a key no longer served breaks
    # every new pairing, so staff are told (once per incident) before owners find out.
    "partner-key-hosting-watch": {
        "task": "partners.tasks.partner_key_hosting_watch",
        "schedule": env.int("PARTNER_KEY_WATCH_SECONDS", default=900),
    },
    "clear-expired-sessions": {
        "task": "accounts.tasks.sessions_clear_expired",
        "schedule": env.int("SESSIONS_CLEAR_INTERVAL_SECONDS", default=24 * 3600),
    },
}

# /healthz (fleetportal/health.py, docs/operations.md): the parts whose failure makes it 503,
# how long a worker ping waits and is remembered, how old beat's stamp may be (it stamps at
# least every minute), and the networks whose probe needs no ALLOWED_HOSTS entry.
HEALTHZ_REQUIRED = env.list("HEALTHZ_REQUIRED", default=["database", "broker", "worker", "beat"])
HEALTHZ_WORKER_TIMEOUT = env.float("HEALTHZ_WORKER_TIMEOUT", default=1.0)
HEALTHZ_WORKER_CACHE_SECONDS = env.int("HEALTHZ_WORKER_CACHE_SECONDS", default=5)
HEALTHZ_BEAT_MAX_AGE_SECONDS = env.int("HEALTHZ_BEAT_MAX_AGE_SECONDS", default=180)
HEALTHZ_ALLOWED_NETWORKS = env.list("HEALTHZ_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])

# Logs go to stderr, as text or (LOG_FORMAT=json) one JSON object per line. Django's own
# default logging stays underneath: with DEBUG off, errors of the `django` loggers (a 500) are
# mailed to ADMINS ("Ops <ops@example.com>, jane@example.com"), through the redacting
# reporter (fleetportal/reporting.py). Other handlers: docs/operations.md, "Logs".
LOG_FORMAT = env("LOG_FORMAT", default="plain")
ADMINS = getaddresses(env.list("ADMINS", default=[]))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "fleetportal.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- Usage and cost (usage/, docs/usage.md) ---------------------------------------------------
# Each process counts its Fleet API requests in memory and writes them to the database at the
# end of each task and request and every USAGE_FLUSH_SECONDS (0: only then; the tests' choice).
USAGE_FLUSH_SECONDS = env.float("USAGE_FLUSH_SECONDS", default=30)
# USD per billed request (answers below 500) or per streamed signal ("1/500" or "0.002"), by
# the portal's categories
# (usage/categories.py). Tesla bills pay-per-use and names each endpoint's pricing category
# (https://developer.tesla.com/docs/fleet-api/billing-and-limits, docs/tesla-api-notes.md
# §4.5); the figures below are the chart third parties reported when Tesla published its
# prices ($1 per 500 data requests, 1,000 commands, 50 wakes, 150,000 signals) [3P], and
# other reports differ (one gives $0.0001 per signal). Check Tesla's page and set yours.
# Telemetry-config and partner calls are charged at the data rate: their category is UNKNOWN.
USAGE_RATES = {
    "data": env.str("USAGE_RATE_DATA", default="1/500"),
    "commands": env.str("USAGE_RATE_COMMANDS", default="1/1000"),
    "wakes": env.str("USAGE_RATE_WAKES", default="1/50"),
    "telemetry_config": env.str("USAGE_RATE_TELEMETRY_CONFIG", default="1/500"),
    "partner": env.str("USAGE_RATE_PARTNER", default="1/500"),
    "signals": env.str("USAGE_RATE_SIGNALS", default="1/150000"),
}
# Tesla: "A monthly discount of $10 is provided" (billing-and-limits page, §4.5).
USAGE_MONTHLY_CREDIT = env.str("USAGE_MONTHLY_CREDIT", default="10")
# The estimated month's usage (before the credit) at which staff are emailed (80 % and 100 %)
# and optional work pauses. Tesla's default billing threshold equals the discount.
USAGE_MONTHLY_BUDGET = env.str("USAGE_MONTHLY_BUDGET", default="10")
