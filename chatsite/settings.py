"""Settings for the chat site, read once from the environment (see .env.example)."""

from decimal import Decimal
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment or in .env "
            "(or set DEBUG=true for local development)."
        )
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
if not DEBUG and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        'ALLOWED_HOSTS must name the site\'s hosts in production; "*" is refused.'
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The usage index's included columns serve PostgreSQL's index-only scans; SQLite (the
# embedded default) builds the same index without them, which is all it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "accounts",
    "agents",
    "conversations",
    "payments",
    "contacts",
    "mcp_servers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
]

# Content-Security-Policy: scripts, styles and sockets from this site only. The pages
# have no inline script or style, and htmx runs with eval and its injected indicator
# styles turned off (base.html), so nothing needs 'unsafe-inline' or 'unsafe-eval'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Keep connections open: the async ORM and Channels run queries on a worker thread that
# would otherwise connect anew for each one (the largest CPU cost per reply).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the streaming checkpoints and page loads read and write side by side.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# See docs/deployment.md ("Channel layer capacity"): frames are dropped past it, never a
# reply's own bookkeeping.
CHANNEL_LAYER_CAPACITY = env.int("CHANNEL_LAYER_CAPACITY", default=2000)
CHANNEL_LAYER_MAX_CONNECTIONS = env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000)

if REDIS_URL:
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # Above channels-redis's 5 s blocking receive, so an idle wait
                        # never times out first (redis-py's own default is also 5 s).
                        "socket_timeout": 30,
                        # A pooled connection idle this long is pinged before use, and a
                        # failed ping or command reconnects and tries again, so one left
                        # over from before a Redis restart is replaced, not reported.
                        "health_check_interval": 2,
                        "retry": AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), 2),
                        # Connections the process may open at once. redis-py's own limit
                        # (100) refused commands past it: at 200 streams per process
                        # their frames took more, and sockets closed as if Redis were
                        # down.
                        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    }
                ],
                # Messages waiting in one process's inbox (all its sockets and replies
                # share it) before a send is refused and a group message is dropped.
                "capacity": CHANNEL_LAYER_CAPACITY,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Several sites (or test runs) can share one Redis with distinct prefixes.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
            "OPTIONS": {
                "health_check_interval": 2,
                "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 2),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "chatsite.layers.ProcessChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "conversations:index"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Production hardening; `manage.py check --deploy` passes with DEBUG off.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# The model. With neither OPENAI_API_KEY nor OPENAI_BASE_URL the offline demo model
# answers, so the app works end to end with no account.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
LLM_DEMO = not (OPENAI_API_KEY or OPENAI_BASE_URL)
LLM_MODEL = env.str("LLM_MODEL", default="demo" if LLM_DEMO else "gpt-4o-mini")
LLM_MODELS = env.list("LLM_MODELS", default=[LLM_MODEL])
if LLM_MODEL not in LLM_MODELS:
    LLM_MODELS = [LLM_MODEL, *LLM_MODELS]
# LLM_TIMEOUT: seconds to wait for each read; LLM_FIRST_TOKEN_TIMEOUT: seconds from
# sending a streamed request to its first event, retries included (a hung server is
# reported then, not after every retry's read timeout).
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=30.0)
LLM_FIRST_TOKEN_TIMEOUT = env.float("LLM_FIRST_TOKEN_TIMEOUT", default=30.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=2)
# The SDK's HTTP transport: "aiohttp" (its documented aiohttp client: half the CPU per
# streamed token) or "httpx" (its default client).
LLM_HTTP_CLIENT = env.str("LLM_HTTP_CLIENT", default="aiohttp")
if LLM_HTTP_CLIENT not in ("aiohttp", "httpx"):
    raise ImproperlyConfigured("LLM_HTTP_CLIENT must be aiohttp or httpx.")
# Seconds between two reads of a streamed answer once it has begun, while it brings
# several events per interval (0: read each packet as it arrives): what arrives
# meanwhile waits in the kernel and is read at once, which spares the process a wake-up
# per token (agents/pacing.py). Frames go to the tabs at most once per
# CHAT_FRAME_INTERVAL anyway.
LLM_STREAM_READ_INTERVAL = env.float("LLM_STREAM_READ_INTERVAL", default=0.04)
# Seconds each demo token takes, so the offline stream is visibly a stream.
LLM_DEMO_TOKEN_DELAY = env.float("LLM_DEMO_TOKEN_DELAY", default=0.02)

# Gateway layers. Fallback: models tried in order after the asked one, only on errors
# worth retrying elsewhere. A Retry-After longer than LLM_RETRY_AFTER_MAX fails fast.
LLM_FALLBACK_MODELS = env.list("LLM_FALLBACK_MODELS", default=[])
LLM_RETRY_AFTER_MAX = env.float("LLM_RETRY_AFTER_MAX", default=20.0)
# Seeds for the model profiles staff edit in the admin (read when a profile is first
# needed): local models whose calls cost nothing, and other names a model is asked or
# reported by ("fast=gpt-4o-mini,prod-4o=gpt-4o": a LiteLLM alias, an Azure deployment).
LLM_FREE_MODELS = env.list("LLM_FREE_MODELS", default=[])
LLM_MODEL_ALIASES = env.dict("LLM_MODEL_ALIASES", default={})
# Spend: a monthly budget per user in USD (per-user overrides in the admin).
LLM_MONTHLY_BUDGET_USD = Decimal(env.str("LLM_MONTHLY_BUDGET_USD", default="10.00"))
# A call reserves its prompt plus this many answer tokens against the budget until its
# real cost is recorded, so calls at once cannot overspend it.
LLM_RESERVE_COMPLETION_TOKENS = env.int("LLM_RESERVE_COMPLETION_TOKENS", default=1000)
# Per-user requests per minute; the account's upstream limits (0 = no limit) and how
# long a call may wait in the queue for them before it fails.
LLM_USER_RPM = env.int("LLM_USER_RPM", default=40)
LLM_GLOBAL_RPM = env.int("LLM_GLOBAL_RPM", default=500)
LLM_GLOBAL_TPM = env.int("LLM_GLOBAL_TPM", default=200000)
LLM_GLOBAL_WAIT_MAX = env.float("LLM_GLOBAL_WAIT_MAX", default=20.0)
LLM_RATE_WINDOW = env.float("LLM_RATE_WINDOW", default=60.0)
# Exact-match response cache: per user unless LLM_CACHE_SCOPE=global; 0 TTL turns it off.
LLM_CACHE_TTL = env.int("LLM_CACHE_TTL", default=3600)
LLM_CACHE_SCOPE = env.str("LLM_CACHE_SCOPE", default="user")

# Streaming: one websocket frame per this many seconds at most (the first token goes
# at once), a database checkpoint of the growing reply every CHECKPOINT seconds, and a
# reply whose checkpoint is older than STALE seconds belongs to a dead process.
CHAT_FRAME_INTERVAL = env.float("CHAT_FRAME_INTERVAL", default=0.04)
# After the first frame, a frame waits for this many tokens, or until its oldest token
# has waited CHAT_FRAME_MAX_WAIT seconds: about 60 frames for a 500-token reply.
CHAT_FRAME_TOKENS = env.int("CHAT_FRAME_TOKENS", default=8)
CHAT_FRAME_MAX_WAIT = env.float("CHAT_FRAME_MAX_WAIT", default=0.15)
CHAT_CHECKPOINT_INTERVAL = env.float("CHAT_CHECKPOINT_INTERVAL", default=1.5)
CHAT_STALE_AFTER = env.float("CHAT_STALE_AFTER", default=10.0)
# Characters a socket may be sent that its tab has not said it read; past it the socket
# closes (the tab reconnects), so a client that stops reading costs bounded memory.
CHAT_SOCKET_UNREAD_LIMIT = env.int("CHAT_SOCKET_UNREAD_LIMIT", default=1_000_000)
# Each process sweeps for replies whose process died (every CHAT_STALE_AFTER / 2 s).
CHAT_SWEEPER = env.bool("CHAT_SWEEPER", default=True)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=20000)
# A system prompt goes with every call of its conversation: keep it well under a window.
CHAT_MAX_SYSTEM_PROMPT_CHARS = env.int("CHAT_MAX_SYSTEM_PROMPT_CHARS", default=8000)
# Writes per user and minute, counted in the shared cache (0 turns a limit off).
CHAT_MESSAGES_PER_MINUTE = env.int("CHAT_MESSAGES_PER_MINUTE", default=20)
CHAT_CONVERSATIONS_PER_MINUTE = env.int("CHAT_CONVERSATIONS_PER_MINUTE", default=10)

# Throttles (django-ratelimit, "count/period" such as "5/5m"; empty turns one off):
# login attempts per account name and per client address, password-reset mail per
# address asked for and per client address. Behind a proxy, RATELIMIT_IP_META_KEY
# names the header that holds the client's address.
LOGIN_RATE = env.str("LOGIN_RATE", default="5/5m")
LOGIN_RATE_PER_IP = env.str("LOGIN_RATE_PER_IP", default="30/5m")
PASSWORD_RESET_RATE = env.str("PASSWORD_RESET_RATE", default="3/h")
PASSWORD_RESET_RATE_PER_IP = env.str("PASSWORD_RESET_RATE_PER_IP", default="10/h")
RATELIMIT_VIEW = "accounts.throttling.throttled"
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default=None)
CHAT_DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# Agent tools. Sensitive tools never run without the owner's confirmation; the model
# cannot change this list. A turn runs at most AGENT_MAX_ROUNDS model calls, and a
# confirmation left undecided for AGENT_CONFIRMATION_TTL seconds expires.
AGENT_SENSITIVE_TOOLS = env.list(
    "AGENT_SENSITIVE_TOOLS", default=["delete_conversation", "send_email", "make_payment"]
)
AGENT_MAX_ROUNDS = env.int("AGENT_MAX_ROUNDS", default=8)
AGENT_CONFIRMATION_TTL = env.int("AGENT_CONFIRMATION_TTL", default=15 * 60)
AGENT_SEARCH_RESULTS = 5
# Email the send_email tool goes out through: console in development, smtp:// in production.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="chat@localhost")
# The class that carries out payments; the default only records them in the ledger.
PAYMENT_BACKEND = env.str("PAYMENT_BACKEND", default="payments.backends.RecordOnlyBackend")
# Long conversations: the history sent with each turn (running summary plus recent
# messages verbatim) is kept under CHAT_HISTORY_TOKENS; 0 derives it from the model's
# context window (LLM_CONTEXT_WINDOW, 0 = known size for the model, else 8192). Past
# the budget, or past CHAT_HISTORY_MAX_MESSAGES recent messages, the older part is
# folded into the summary after the reply.
LLM_CONTEXT_WINDOW = env.int("LLM_CONTEXT_WINDOW", default=0)
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=0)
CHAT_HISTORY_MAX_MESSAGES = env.int("CHAT_HISTORY_MAX_MESSAGES", default=20)

# Structured outputs: the most text sent for contact extraction in one go, and whether
# conversations are classified in the background after their first message.
CONTACTS_MAX_TEXT_CHARS = env.int("CONTACTS_MAX_TEXT_CHARS", default=20000)
CLASSIFY_CONVERSATIONS = env.bool("CLASSIFY_CONVERSATIONS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# MCP tool servers (mcp_servers). A stdio server runs a command on this machine, so
# staff may configure one only where MCP_ALLOW_STDIO says so. A tool's result longer
# than MCP_RESULT_LIMIT characters is cut with a note. A server that answered is not
# checked again before a turn for MCP_HEALTH_TTL seconds.
MCP_ALLOW_STDIO = env.bool("MCP_ALLOW_STDIO", default=False)
MCP_RESULT_LIMIT = env.int("MCP_RESULT_LIMIT", default=20_000)
MCP_HEALTH_TTL = env.int("MCP_HEALTH_TTL", default=60)
