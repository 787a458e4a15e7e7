"""TaskOverflow settings: one module, driven by environment variables.

Every variable is listed in README.md and `.env.example`. The defaults suit local
development; with DEBUG off, start-up refuses the settings that are only safe on
a developer's machine.
"""

import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A developer's `.env` (git-ignored; see .env.example). Variables already set win.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)

# A fixed key is fine for a developer's machine and for tests; anything served to
# others must bring its own.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
# An empty variable counts as unset, as in a copied .env.example.
SECRET_KEY = env.str("SECRET_KEY", default="") or (
    DEVELOPMENT_SECRET_KEY if DEBUG else ""
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[]) or (
    [".localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)

# On ECS the image's entrypoint adds the task's own private address, which the
# load balancer's health checks name as the host (taskoverflow/entrypoint.sh).

# --- Accounts -------------------------------------------------------------------
# "open": no login, one shared list (the course's contract; the default with DEBUG
# on). "required": every todo, job and calendar feed belongs to a user, who signs
# in on the page or sends a personal access token (the default with DEBUG off).
ACCOUNTS = env.str("ACCOUNTS", default="") or ("open" if DEBUG else "required")
if ACCOUNTS not in ("open", "required"):
    raise ImproperlyConfigured(f"ACCOUNTS must be open or required, not {ACCOUNTS!r}.")
# Whether anyone may make an account on the page (/accounts/signup).
ACCOUNTS_SIGNUP = env.bool("ACCOUNTS_SIGNUP", default=False)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Personal access tokens are knox's tokens (stored as SHA-512 digests), with a
# name and a public id of ours (accounts.models.PersonalToken).
KNOX_TOKEN_MODEL = "accounts.PersonalToken"
# knox's own migrations make its AuthToken table even when the model is swapped
# for ours: an unused table whose key to the users blocks flushing them. Its
# only model is swapped out, so without migrations it makes no table at all.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_MODEL": KNOX_TOKEN_MODEL,
    "TOKEN_TTL": None,  # a token's expiry is its creator's choice
    "TOKEN_PREFIX": "to_",  # recognisable by secret scanners
    "AUTH_HEADER_PREFIX": "Bearer",
}

if not DEBUG:
    if not SECRET_KEY or SECRET_KEY == DEVELOPMENT_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a long random value when DEBUG is off."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must list the host names this service answers to "
            "when DEBUG is off (comma-separated)."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so that runserver also serves through WhiteNoise.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "knox",
    "accounts",
    "todos",
    "calendars",
    "queuedemo",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "api.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "taskoverflow.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A refused CSRF check under /api/ answers JSON like every other API error.
CSRF_FAILURE_VIEW = "api.errors.csrf_failure"

WSGI_APPLICATION = "taskoverflow.wsgi.application"

# Database: DATABASE_URL, e.g. postgres://user:password@host:5432/name (psycopg 3).
# The default is an SQLite file beside manage.py.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web server and a worker write to the same file at once. Measured here:
    # default settings failed 289 of 5,930 concurrent write transactions with
    # "database is locked"; WAL + BEGIN IMMEDIATE + a 20 s busy timeout, none.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with a health check that costs no round trip while the
        # server has said nothing (taskoverflow/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "taskoverflow.postgresql"
        if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
            # A statement a connection runs again and again is prepared after
            # psycopg's default five runs: PostgreSQL then plans it once per
            # connection, not on every run. A job's first statement took 1 ms
            # of the server's time to plan and a tenth of that to run
            # (docs/benchmarks.md). Preparing needs the parameters bound by the
            # server (Django's default binds them into the SQL text itself);
            # off for a pooler that cannot keep prepared statements.
            DATABASES["default"].setdefault("OPTIONS", {}).update(
                server_side_binding=True, prepare_threshold=5
            )
    # Bound every wait on the database: a server that is gone fails fast.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2)
    )
# Throttle counts live in the cache: set CACHE_URL to share them between
# processes and tasks, e.g. redis://HOST:6379/2, or dbcache://taskoverflow_cache
# (Django's database cache; its table is made with the migrations, by
# `python -m taskoverflow.prestart --migrate`). The default counts per process.
CACHES = {
    "default": env.cache_url_config(
        env.str("CACHE_URL", default="") or "locmemcache://"
    )
}

# Each web and worker thread keeps its database connection for a minute: opening
# one per request cost more than the request itself (docs/benchmarks.md). Django
# checks a kept connection before each request reuses it, so a database that went
# away is met with a new connection, bounded by the connect timeout above; on
# PostgreSQL that check costs no round trip while the server has said nothing
# (taskoverflow/postgresql/base.py).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The password apart from DATABASE_URL: on ECS it comes from Secrets Manager as its
# own variable, and needs no URL-escaping.
if database_password := env.str("DATABASE_PASSWORD", default=""):
    DATABASES["default"]["PASSWORD"] = database_password

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles"
# Generated calendars, written by the worker and served by the web server through
# the API (never as public URLs): both must see the same storage.
MEDIA_ROOT = env.str("MEDIA_ROOT", default="") or BASE_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# AWS: region and endpoint for SQS and S3 (boto3 reads AWS_ENDPOINT_URL itself).
AWS_REGION_NAME = (
    env.str("AWS_REGION", default="")
    or env.str("AWS_DEFAULT_REGION", default="")
    or "us-east-1"
)
# On AWS web and worker run on different machines: calendars go to an S3 bucket
# (private; terraform/ makes it) instead of MEDIA_ROOT.
CALENDAR_BUCKET = env.str("CALENDAR_BUCKET", default="")
if CALENDAR_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CALENDAR_BUCKET,
            "region_name": AWS_REGION_NAME,
            # A rebuilt job replaces its own file; the bucket's policy decides
            # access (no object ACLs).
            "file_overwrite": True,
            "default_acl": None,
            # Download URLs (a redirect from the result endpoint) are signed
            # with SigV4, which objects encrypted with KMS require.
            "signature_version": "s3v4",
        },
    }

# --- HTTPS --------------------------------------------------------------------
# With DEBUG off, the defaults are what `manage.py check --deploy` asks of a site
# served over HTTPS: redirect HTTP, secure cookies, HSTS. A stack served over
# plain HTTP on one machine (docker-compose.yml) turns them off by name.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and container health checks ask over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/?$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Asking browsers to preload HTTPS-only for a domain is a lasting promise
    # that only the domain's owner can make, so it is off unless asked for and
    # check --deploy's reminder (W021) is silenced.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a proxy that ends HTTPS (the AWS load balancer) requests arrive over
# HTTP with X-Forwarded-Proto: https. Trust that header only there: a client
# that reaches gunicorn directly could send it too.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _rate(name: str, rate: str) -> str:
    """A rate as "N/second", "N/minute", "N/hour" or "N/day" (or s, min, h, d)."""
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 30/min (N/second, minute, hour or "
            f"day), not {rate!r}."
        )
    return rate


# --- What one client may do ----------------------------------------------------
# Counted per client address (see NUM_PROXIES) in the cache (CACHE_URL); more
# answers 429 with Retry-After. Generous for a person, tight for a flood; the
# benchmarks, one very busy client, lift them.
# Calendar jobs a client may create.
ICAL_RATE_LIMIT = _rate(
    "ICAL_RATE_LIMIT", env.str("ICAL_RATE_LIMIT", default="") or "30/min"
)
# Todos a client may create, change or delete; reads are not counted.
TODO_WRITE_RATE_LIMIT = _rate(
    "TODO_WRITE_RATE_LIMIT", env.str("TODO_WRITE_RATE_LIMIT", default="") or "120/min"
)
# Calendar jobs of one client that may wait unfinished at once (0: no cap).
ICAL_MAX_QUEUED_PER_CLIENT = env.int("ICAL_MAX_QUEUED_PER_CLIENT", default=5)
# Writes through the API are refused when a browser says they come from another
# site (api/permissions.py): an Origin other than this site's and these (also
# what Django's CSRF check of the admin trusts), e.g. https://todos.example.com.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

REST_FRAMEWORK = {
    # JSON only: any other content type is refused with 415 rather than guessed.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # With ACCOUNTS=open both take no one, and the API is open, as the
    # TaskOverflow clients expect; with ACCOUNTS=required, a token or the page's
    # session (which keeps Django's CSRF check).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalTokenAuthentication",
        "accounts.authentication.PageSessionAuthentication",
    ],
    # Writes from another site, which browsers mark, are refused; with
    # ACCOUNTS=required, so is everyone not signed in.
    "DEFAULT_PERMISSION_CLASSES": [
        "api.permissions.NotCrossSite",
        "api.permissions.SignedInWhenRequired",
    ],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    # An unknown ?format= is a 404 that names it.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.FormatNegotiation",
    # How many proxies stand before us (1 behind a load balancer): the client is
    # then the address they name, not the proxy's.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# Larger request bodies are refused with 413 before they are read, on any URL
# (taskoverflow/wsgi.py); Django's own bound, which answers 400, is the same.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

SPECTACULAR_SETTINGS = {
    "TITLE": "TaskOverflow API",
    "DESCRIPTION": (
        "Todos, and calendars of them built on worker queues. Every 4xx answer "
        'is a JSON object with an "error" key that names the field and the fault.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Serve Swagger UI from our own static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.forbid_unknown_request_fields",
    ],
}

# --- Celery -------------------------------------------------------------------
# Read by the worker through config_from_object("django.conf:settings",
# namespace="CELERY"). The broker, by CELERY_BROKER_URL:
#   filesystem://          (default) a folder on this machine; needs no server
#   redis://HOST:6379/0    Redis
#   sqs://                 AWS SQS; credentials and region from the AWS
#                          environment, a local SQS API through AWS_ENDPOINT_URL
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or "django-db"
if CELERY_RESULT_BACKEND == "django-db":
    # django-celery-results' backend, each result written by one statement
    # rather than four (calendars/results.py).
    CELERY_RESULT_BACKEND = "calendars.results:UpsertingDatabaseBackend"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_DEFAULT_QUEUE", default="") or "ical"
CELERY_RESULT_EXTENDED = True  # task name and arguments show in the admin
# The job's own row says STARTED (calendars/jobs.py); the result backend need not
# be written a third time per job to say it again.
CELERY_TASK_TRACK_STARTED = False
# A job is acknowledged once it is done, not when it is taken: a worker that dies
# mid-job leaves its message to be delivered again. Tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
ICAL_TIME_LIMIT = env.int("ICAL_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = ICAL_TIME_LIMIT
# The soft limit ends a job with a clear reason before the hard one kills it.
CELERY_TASK_SOFT_TIME_LIMIT = max(int(ICAL_TIME_LIMIT * 0.9), 1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery closes the database connection before and after each task unless told
# to reuse it; a job then paid for a new connection twice. Kept connections are
# checked before each task as before each request (taskoverflow/celery.py).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Publishing must not hang a web request: one try, bounded by the transport's
# socket timeouts; a job that cannot be sent ends FAILURE and the client gets 503.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
# Lower-case names are the module's own, never settings: Celery and Django read
# neither of these. A message whose worker died is delivered again after this
# many seconds; it must exceed the hard time limit, or a slow job would run
# twice at once.
_visibility_timeout = ICAL_TIME_LIMIT + 60
_broker_scheme = CELERY_BROKER_URL.split("://", 1)[0]
if _broker_scheme == "filesystem":
    # Folders made by taskoverflow/celery.py when Celery loads this configuration
    # (kombu creates none, and takes relative ones from the working directory).
    _broker_folder = Path(
        env.str("CELERY_BROKER_FOLDER", default="") or BASE_DIR / "var" / "broker"
    ).resolve()
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "control_folder": str(_broker_folder / "control"),
        "processed_folder": str(_broker_folder / "processed"),
        "store_processed": False,
        # Measured here: 1,001 ms median latency at the default 1 s; 101 ms at
        # 0.1. A poll is one listdir of a folder: 50 a second cost nothing.
        "polling_interval": 0.02,
    }
elif _broker_scheme in ("redis", "rediss"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        # A Redis that accepts connections but never answers would otherwise
        # hang a publish for minutes.
        "socket_timeout": 1.5,
        "socket_connect_timeout": 1.5,
    }
elif _broker_scheme == "sqs":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "region": AWS_REGION_NAME,
        "visibility_timeout": _visibility_timeout,
        "wait_time_seconds": 10,  # long polling: a message arrives as it is sent
        "polling_interval": 0.1,
    }
    # A queue made beforehand (terraform/ makes `ical`), named by its URL: then
    # nothing lists or creates queues, so the services need no right to.
    if queue_url := env.str("SQS_QUEUE_URL", default=""):
        CELERY_BROKER_TRANSPORT_OPTIONS["predefined_queues"] = {
            CELERY_TASK_DEFAULT_QUEUE: {"url": queue_url}
        }
    elif not DEBUG and not env.str("AWS_ENDPOINT_URL", default=""):
        # Celery would make the queue itself, with its own attributes, and need
        # the right to list and create queues: in AWS the queue is terraform's.
        raise ImproperlyConfigured(
            "SQS_QUEUE_URL must name the job queue when CELERY_BROKER_URL is "
            "sqs:// and DEBUG is off (terraform's output queue_urls.ical); only "
            "a local SQS API (AWS_ENDPOINT_URL) may have Celery create it."
        )

# The worker's artificial wait before building, in seconds, to reproduce the slow
# job of the original exercise.
ICAL_SIMULATED_DELAY = env.float("ICAL_SIMULATED_DELAY", default=0.0)
# Each worker sweeps this often (seconds; 0: never) for jobs whose worker is gone
# or that sat queued past the time limit, which it sends again, and hourly for
# expired jobs, which it deletes.
ICAL_SWEEP_INTERVAL = env.float("ICAL_SWEEP_INTERVAL", default=10.0)
# A running job's heartbeat; three missed beats mean its worker is gone, and the
# sweep sends the job again at once rather than after the time limit.
ICAL_HEARTBEAT_SECONDS = env.float("ICAL_HEARTBEAT_SECONDS", default=5.0)
ICAL_RESULT_EXPIRY_DAYS = env.float("ICAL_RESULT_EXPIRY_DAYS", default=7.0)
# Stored calendars take at most this much room in all; past it the oldest
# finished jobs go first, with their files (a calendar is stored once however
# many jobs share it).
ICAL_STORAGE_BUDGET_MB = env.float("ICAL_STORAGE_BUDGET_MB", default=1024.0)
ICAL_STORAGE_BUDGET_BYTES = int(ICAL_STORAGE_BUDGET_MB * 1024 * 1024)
# On S3 a download is a redirect to the bucket, by a URL valid this many seconds.
ICAL_DOWNLOAD_URL_SECONDS = env.int("ICAL_DOWNLOAD_URL_SECONDS", default=60)
# The calendar feed (calendars/feeds.py): rebuilt by a worker once its todos
# have been quiet this long, and at the latest this long after the first change
# not yet in it.
FEED_QUIET_SECONDS = env.float("FEED_QUIET_SECONDS", default=0.5)
FEED_MAX_WAIT_SECONDS = env.float("FEED_MAX_WAIT_SECONDS", default=10.0)
CELERY_RESULT_EXPIRES = int(ICAL_RESULT_EXPIRY_DAYS * 86400)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
