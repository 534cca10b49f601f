"""Settings for every environment.

No variables set means a developer's machine: SQLite file, in-memory channel layer, Celery on
kombu's filesystem transport, console email, DEBUG. Production differs only by environment
variables (listed with one line each in `.env.example`); there is no production.py.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "axes",
    "csp",
    "accounts",
    "customers",
    "tickets",
    "slas",
    "chat",
]

MIDDLEWARE = [
    # Streams files (WhiteNoise's static files, attachments) to the ASGI server asynchronously.
    "core.streaming.AsyncFileStreamsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"
WSGI_APPLICATION = None

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
                # The agent UI's header and left navigation (lazy: no query unless shown).
                "tickets.navigation.shell",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# The SQLite default is a file (never :memory:) so a live server in end-to-end tests sees the
# same rows as the test that wrote them.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'helpdesk.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; the timeout waits out a writer.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-helpdesk.sqlite3")}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES and env_bool("DB_POOL", True):
    # An ASGI server runs each request's ORM work on whichever thread is free, so Django's
    # per-thread persistent connections are opened and closed on every request. A pool keeps
    # them (detail p50 23 -> 16 ms at a million tickets). Size it per server process.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN", "2")),
        "max_size": int(os.environ.get("DB_POOL_MAX", "20")),
        "timeout": 10,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# The agent UI signs in at `/` (and sends each person on to their own start page from there).
LOGIN_URL = "/"

# The lockout backend first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "core.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Where a sign-in without ?next= lands (the agent UI's home; never /accounts/profile/).
LOGIN_REDIRECT_URL = "/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded attachments are never served from a public URL: the API streams them after an
# access check. MEDIA_ROOT is where Django's default storage keeps them.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Limits -------------------------------------------------------------------------------
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
ATTACHMENTS_PER_MESSAGE = int(os.environ.get("ATTACHMENTS_PER_MESSAGE", "5"))
# A stored attachment file no row references (its upload's transaction rolled back) is deleted
# by the worker's hourly sweep once it is this old.
ATTACHMENT_ORPHAN_GRACE_HOURS = float(os.environ.get("ATTACHMENT_ORPHAN_GRACE_HOURS", "24"))
ATTACHMENT_CONTENT_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MESSAGE_BODY_MAX_CHARS = 50_000
# The undo window after Send: a reply waits this long before it is posted (tickets.replies).
UNDO_SEND_SECONDS = int(os.environ.get("UNDO_SEND_SECONDS", "5"))
# The largest request body that is not files (forms here; JSON too, see core/parsers.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# How deeply a JSON body's arrays and objects may nest (ours nest two levels at most).
API_JSON_MAX_DEPTH = 32

# --- Live chat (docs/chat-protocol.md) -----------------------------------------------------
# How long a widget's signed visitor token is accepted after it was issued (seconds).
CHAT_VISITOR_TOKEN_MAX_AGE = int(os.environ.get("CHAT_VISITOR_TOKEN_MAX_AGE", str(30 * 86400)))

# --- Live chat routing (chat.routing_engine; docs/chat-routing.md) --------------------------
# How often an open chat console sends a heartbeat; after how long without one the agent is
# marked away (their unanswered offers go back to the front of the queue); how much longer a
# vanished agent keeps their active chats before those go back to the queue too.
# The ASGI server's garbage-collection policy (core.gc_policy): freeze what survives each full
# collection and walk the whole heap once per this many seconds. 0: Python's own behaviour
# (the default with DEBUG, where a developer's server holds a handful of sockets).
SERVER_GC_SWEEP_SECONDS = float(os.environ.get("SERVER_GC_SWEEP_SECONDS", "0" if DEBUG else "600"))

CHAT_HEARTBEAT_SECONDS = int(os.environ.get("CHAT_HEARTBEAT_SECONDS", "10"))
CHAT_HEARTBEAT_TIMEOUT_SECONDS = int(os.environ.get("CHAT_HEARTBEAT_TIMEOUT_SECONDS", "30"))
CHAT_ORPHAN_GRACE_SECONDS = int(os.environ.get("CHAT_ORPHAN_GRACE_SECONDS", "90"))

# --- Cache (throttle counters live here, so production shares them through Redis) ---------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Channels -----------------------------------------------------------------------------
if REDIS_URL:
    # The pub/sub layer: measured here at p50 1.1 ms with 2,000 sockets, and it does not drop
    # messages under the per-process capacity limit the core RedisChannelLayer has.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Pub/sub channels are shared by every database number of one Redis: deployments
                # (and test runs) sharing a server keep apart with their own prefix.
                **(
                    {"prefix": os.environ["CHANNEL_LAYER_PREFIX"]}
                    if os.environ.get("CHANNEL_LAYER_PREFIX")
                    else {}
                ),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery -------------------------------------------------------------------------------
# Without Redis the worker uses kombu's filesystem transport: no server, and one
# `celery worker -B --pool=solo` process runs both queued jobs and the beat schedule.
CELERY_QUEUE_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": 3600,
        # A Redis that accepts connections but never answers would otherwise hold a request
        # (publishing after commit) forever; the worker's own reads return every second.
        "socket_connect_timeout": 2,
        "socket_timeout": 3,
    }
else:
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A request never waits on a dead broker: publishing gives up fast and the outbox sweep
# (tickets.tasks.send_pending_notifications) delivers whatever was not queued.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2

# --- Email --------------------------------------------------------------------------------
EMAIL_URL = os.environ.get("EMAIL_URL", "")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Helpdesk <support@example.com>")
if EMAIL_URL:
    from urllib.parse import unquote, urlparse

    _email = urlparse(EMAIL_URL)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or 25
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_TLS = _email.scheme == "submission"
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF takes the WWW-Authenticate header from the first class, so an anonymous
    # request gets 401 (with the session class first it would be a 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Size and nesting limits on every body, before it reaches a parser that recurses.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "core.parsers.FormParser",
        "core.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "core.api.StrictOrderingFilter",  # an unknown ?ordering= is a 400, not ignored
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # DRF's throttles keyed on core.net.client_address, the address the sign-in lockout counts.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttles.AnonRateThrottle",
        "core.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
        # Password guessing: a handful of tries a minute per client address.
        "auth": os.environ.get("API_THROTTLE_AUTH", "10/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # The browsable API's HTML pages are a developer's tool: off in production unless asked for.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["core.renderers.BrowsableAPIRenderer"] if env_bool("API_BROWSABLE", DEBUG) else []),
    ],
}

# --- The client's address (throttles and the sign-in lockout read it the same way) ---------
# How many reverse proxies stand in front of the server. Unset (0): the socket's address, and
# X-Forwarded-For is ignored, since a client can write anything there. N: the address the
# outermost of our proxies saw (the Nth from the right of X-Forwarded-For). See core/net.py.
NUM_PROXIES = int(os.environ.get("NUM_PROXIES") or 0)

# --- Password guessing: one lockout for every door that checks a password (django-axes) ----
# Counted per username and, separately, per client address: either reaching the limit locks
# that username / address out until the cool-off has passed since its last failure. A locked
# out try is answered exactly like a wrong password (core/lockout.py).
AXES_FAILURE_LIMIT = int(os.environ.get("AUTH_LOCKOUT_FAILURES", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("AUTH_LOCKOUT_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True  # only the signed-in username's failures (core.lockout)
AXES_HANDLER = "core.lockout.SignInAttempts"
AXES_CLIENT_IP_CALLABLE = "core.net.client_address"
AXES_USERNAME_CALLABLE = "core.lockout.username_of"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept (admin: Axes); successful sign-ins are not
AXES_VERBOSE = False
SILENCED_SYSTEM_CHECKS = [
    # Axes' middleware only swaps the door's own answer to a locked-out try for a lockout page
    # (429). We want the door's answer: a locked-out try must look like a wrong password. (Its
    # ASGI path also passes its arguments in the wrong order: jazzband/django-axes#1494.)
    "axes.W002",
]

SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "Helpdesk API",
    "DESCRIPTION": "Tickets, customers and live events for e-commerce support teams.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "TAGS": [
        {"name": "tickets", "description": "Tickets, their conversation and audit trail."},
        {"name": "attachments", "description": "Files on messages, streamed after a check."},
        {"name": "macros", "description": "Canned replies with safe placeholders."},
        {"name": "chat", "description": "Live chat history (docs/chat-protocol.md)."},
    ],
    # Enums shared by several fields get one stable name each.
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "tickets.models.Status",
        "TicketPriorityEnum": "tickets.models.Priority",
        "TicketTypeEnum": "tickets.models.TicketType",
        "TicketChannelEnum": "tickets.models.Channel",
        "SenderKindEnum": "tickets.models.SenderKind",
        "TicketEventKindEnum": "tickets.models.EventKind",
        # sla-core: the ticket's SLA summary and the clocks name the same targets and states.
        "SlaTargetEnum": "tickets.models.SlaTarget",
        "SlaStateEnum": "tickets.models.SlaState",
        "SlaClockStateEnum": "slas.models.ClockState",
        "SlaSegmentKindEnum": "slas.models.SegmentKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Customers get a subset of a ticket's fields: those are not `required`.
        "core.api.agent_only_fields_are_optional",
    ],
}

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"


def websocket_origins() -> list[str]:
    """`ws(s)://host` for each host we answer to: CSP's 'self' does not cover websockets in
    every browser. A wildcard host (`.example.com`) allows its subdomains; `*` any host."""
    schemes = ["wss"] if not DEBUG else ["ws", "wss"]
    origins = []
    for host in ALLOWED_HOSTS:
        if host == "*":
            return [f"{scheme}:" for scheme in schemes]
        name = f"*{host}" if host.startswith(".") else host
        origins += [f"{scheme}://{name}" for scheme in schemes]
        if DEBUG:
            origins += [f"{scheme}://{name}:*" for scheme in schemes]
    return origins


# Every page: our own scripts, styles and connections only, no inline script or style, never
# framed. The agent UI and the API docs are built for it (no inline <script>, no style=).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "connect-src": [SELF, *websocket_origins()],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Named so that Django's own console handler for it (DEBUG only) is dropped: with it,
        # every 4xx ("Not Found: /x") was printed twice, once by it and once by the root's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # The worker runs sweeps every few seconds (chat routing, time rules, SLA breaches,
        # undo-send replies): a "received"/"succeeded" pair for each would bury what matters.
        # Task failures are logged at ERROR whatever this says.
        **{
            name: {"level": os.environ.get("CELERY_TASK_LOG_LEVEL", "WARNING")}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it
if not REDIS_URL:
    (CELERY_QUEUE_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (CELERY_QUEUE_DIR / "processed").mkdir(parents=True, exist_ok=True)
