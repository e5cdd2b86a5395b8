"""Loupe settings: one env-driven module (see shared design.md, "Settings contract").

Every variable has a safe default for the embedded mode (`make run`: SQLite and a
Celery broker on local disk). A bad value fails loudly with ImproperlyConfigured.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from webapp.env import (
    env_bool,
    env_count,
    env_float,
    env_host_ports,
    env_int,
    env_list,
    env_str,
    env_url,
)
from webapp.providers import dashscope_embedding, opensearch_embedding

# Lets admin.ModelAdmin[Model] and friends be subscripted at run time, for typing.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LOUPE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, or one generated once and kept under var/.

    The embedded mode must work on a fresh machine without a hand-made secret,
    yet a key must never be hard-coded in the repository.
    """
    from_env = env_str("SECRET_KEY")
    if from_env:
        return from_env
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    # ninja serves Swagger UI from its own static files, so the docs page works offline.
    "ninja",
    "webapp.accounts",
    "webapp.search",
    "webapp.collections",
    "webapp.library",
    "webapp.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webapp.middleware.LoginRequiredExceptApiMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

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
                "webapp.search.context_processors.providers",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'loupe.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool per process instead of one persistent connection per thread: the
    # worker runs up to WORKER_CONCURRENCY searches in threads and ASGI runs each
    # request in a new thread, so thread-held connections would exhaust
    # PostgreSQL's max_connections. A run hands its connection back while it waits
    # on the network. With CONN_HEALTH_CHECKS, Django has the pool test a connection
    # before handing it out, so a database restart costs a reconnect, not an error.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": env_count("DATABASE_POOL_SIZE", 20, minimum=2),
            "timeout": 30,
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the busy timeout
    # makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "search:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
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
# Serve static files straight from the finders when collectstatic has not run
# (make run on a fresh clone); production images run collectstatic at build time.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
WHITENOISE_MANIFEST_STRICT = False

# --- Caches and sessions ------------------------------------------------------------
# "pages": rendered pages of finished searches (webapp/search/page_cache.py), in each
# process's memory. "default": Redis when there is one (production: CACHE_URL, else the
# broker's Redis), which also holds sessions in front of the database; without Redis
# (the embedded default) sessions stay in the database alone.
CACHE_URL = env_str(
    "CACHE_URL",
    env_str("CELERY_BROKER_URL") if env_str("CELERY_BROKER_URL").startswith("redis") else "",
)
CACHES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 500},
    },
}
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, got {CACHE_URL!r}")
    CACHES["default"] = {
        "BACKEND": "webapp.cache.TolerantRedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "loupe",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "webapp.broker:AtomicFilesystemTransport"
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # Broadcasts (the dashboard's inspect ping) go through exchange tables
        # here; kombu's default is ./control in whatever folder a process started.
        "control_folder": str(BROKER_DIR / "control"),
        # The default 1 s poll adds ~0.5 s to every search (design.md, recipes).
        # At 10 ms the idle worker lists one small folder 100 times a second,
        # well under 1% of a core, and a search waits ~5 ms for pick-up.
        "polling_interval": 0.01,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redelivery of an unacknowledged message (a killed worker's) after this long.
        # Searches do not wait for it: their leases and the sweeper recover them in
        # well under a minute. It must outlast the longest task (a library import).
        "visibility_timeout": 3600,
        # A broker that is down must not hold a person's request for long: the
        # search stays queued and the sweeper sends it once the broker is back.
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
        "retry_on_timeout": True,
        "health_check_interval": 25,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# With a prefork pool, a killed child's message goes back to the queue instead of
# being acknowledged and lost. (The threads pool has no children; leases cover it.)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing while the broker is down fails within about two seconds, not twenty.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.25,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for the broker forever
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
# Celery beat (make run: inside the worker, -B; compose: the "beat" service).
# Scheduled saved searches are checked every 5 minutes; each one is claimed
# with a conditional UPDATE, so a second beat by mistake runs nothing twice.
CELERY_BEAT_SCHEDULE = {
    "run-due-saved-searches": {
        "task": "collections.run_due_saved_searches",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Providers ----------------------------------------------------------------
# The emulator stands in for every provider whose key is unset (make run starts it).
EMULATOR_URL = env_url("EMULATOR_URL", "http://127.0.0.1:8765")

IQS_API_KEY = env_str("IQS_API_KEY")
IQS_BASE_URL = env_url("IQS_BASE_URL", "https://cloud-iqs.aliyuncs.com")
IQS_EMULATED = not IQS_API_KEY
IQS_EFFECTIVE_BASE_URL = EMULATOR_URL if IQS_EMULATED else IQS_BASE_URL
IQS_TIMEOUT_SECONDS = env_float("IQS_TIMEOUT_SECONDS", 6.0)
IQS_MAX_TRIES = env_count("IQS_MAX_TRIES", 3, minimum=1)
# A dotted path to a callable(str) -> str that shortens long queries; the
# default is deterministic (webapp.search.query_rewrite.shorten_query).
QUERY_REWRITER = env_str("QUERY_REWRITER", "webapp.search.query_rewrite.shorten_query")

DASHSCOPE_API_KEY = env_str("DASHSCOPE_API_KEY")
DASHSCOPE_BASE_URL = env_url(
    "DASHSCOPE_BASE_URL", "https://dashscope.aliyuncs.com/compatible-mode/v1"
)
DASHSCOPE_MODEL = env_str("DASHSCOPE_MODEL", "qwen3.7-plus")
DASHSCOPE_EMULATED = not DASHSCOPE_API_KEY
DASHSCOPE_EFFECTIVE_BASE_URL = (
    f"{EMULATOR_URL}/compatible-mode/v1" if DASHSCOPE_EMULATED else DASHSCOPE_BASE_URL
)
DASHSCOPE_TIMEOUT_SECONDS = env_float("DASHSCOPE_TIMEOUT_SECONDS", 120.0)

# --- Prices, for cost estimates (CNY) ----------------------------------------------
# image_search is billed per tool call (api-docs 004: CNY 48 per 1,000 calls);
# token prices depend on the model and contract, so they are settings.
IMAGE_SEARCH_PRICE_PER_1000_CALLS_CNY = env_float("IMAGE_SEARCH_PRICE_PER_1000_CALLS_CNY", 48.0)
TOKEN_PRICE_INPUT_PER_1K_CNY = env_float("TOKEN_PRICE_INPUT_PER_1K_CNY", 0.0)
TOKEN_PRICE_OUTPUT_PER_1K_CNY = env_float("TOKEN_PRICE_OUTPUT_PER_1K_CNY", 0.0)

# --- Uploads ---------------------------------------------------------------------
UPLOAD_MAX_BYTES = env_count("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# Query images are downscaled to this longest side before going to the provider:
# more pixels cost upload time and tokens without helping a similarity search.
UPLOAD_MAX_SIDE = env_count("UPLOAD_MAX_SIDE", 2048, minimum=64)
# How long a signed public URL to an uploaded query image stays valid.
UPLOAD_URL_MAX_AGE_SECONDS = env_count("UPLOAD_URL_MAX_AGE_SECONDS", 15 * 60, minimum=60)

# --- Image fetching ------------------------------------------------------------
FETCH_PRIVATE_ALLOWLIST = env_host_ports("FETCH_PRIVATE_ALLOWLIST")
FETCH_MAX_BYTES = env_count("FETCH_MAX_BYTES", 15 * 1024 * 1024, minimum=1024)
FETCH_TIMEOUT_SECONDS = env_float("FETCH_TIMEOUT_SECONDS", 8.0)
# Images one process fetches at once, shared by all the searches it runs; decoding them
# is bounded separately, by the cores (webapp/cpu.py).
THUMBNAIL_CONCURRENCY = env_count("THUMBNAIL_CONCURRENCY", 32, minimum=1)
THUMBNAIL_MAX_SIDE = 320

PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL")

# --- Limits ---------------------------------------------------------------------
# Unset means no limit; staff can set a per-user limit in the admin.
SEARCHES_PER_USER_PER_DAY = env_int("SEARCHES_PER_USER_PER_DAY", None, minimum=0)

# --- Dashboard ------------------------------------------------------------------
# The IQS trial allows 1,000 queries a day (Retrieval.TestUserQueryPerDayExceeded).
IQS_DAILY_QUOTA = env_count("IQS_DAILY_QUOTA", 1000, minimum=1)
# IQS's documents publish no per-call price; 0 shows IQS calls as "not priced".
IQS_PRICE_PER_CALL_CNY = env_float("IQS_PRICE_PER_CALL_CNY", 0.0)
# Leases recover a dead worker's searches within a minute (below), so a search
# queued or running for 10 minutes means something is wrong beyond one worker.
STUCK_SEARCH_MINUTES = env_count("STUCK_SEARCH_MINUTES", 10, minimum=1)

# --- Recovery: leases and the sweeper (webapp/search/leases.py) -----------------------
# A running search's lease; the worker renews it every third of this. A killed
# worker's searches are taken back this long after its last heartbeat.
SEARCH_LEASE_SECONDS = env_count("SEARCH_LEASE_SECONDS", 30, minimum=3)
# Each worker sweeps this often for searches left behind.
SEARCH_SWEEP_SECONDS = env_float("SEARCH_SWEEP_SECONDS", 10.0)
# Claims a search may take before it fails as "Interrupted".
SEARCH_MAX_ATTEMPTS = env_count("SEARCH_MAX_ATTEMPTS", 3, minimum=1)
# A lease is not renewed past this: every provider call ends well before (its own deadline).
SEARCH_MAX_RUN_SECONDS = env_count("SEARCH_MAX_RUN_SECONDS", 300, minimum=30)
# A queued search that never reached the broker is sent again after this...
SEARCH_DISPATCH_GRACE_SECONDS = env_count("SEARCH_DISPATCH_GRACE_SECONDS", 5, minimum=1)
# ...and one that reached it but was never claimed (a broker restart lost it) after this.
SEARCH_REDISPATCH_SECONDS = env_count("SEARCH_REDISPATCH_SECONDS", 60, minimum=5)
# A search still queued this long after it was made fails with a sentence.
SEARCH_QUEUED_MAX_MINUTES = env_count("SEARCH_QUEUED_MAX_MINUTES", 30, minimum=1)
# How long an API client's Idempotency-Key returns the first search.
IDEMPOTENCY_KEY_HOURS = 24

# --- Live pages (webapp/live/) ----------------------------------------------------------
# Where a worker announces a search's changes to the web processes streaming it:
# a Redis URL (production: the broker's Redis by default), or "file" for a folder
# under var/ that web processes watch (the embedded default: no server needed).
LIVE_UPDATES_URL = env_str(
    "LIVE_UPDATES_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "file"
)
if not LIVE_UPDATES_URL.startswith(("redis://", "rediss://", "unix://")) and (
    LIVE_UPDATES_URL != "file"
):
    raise ImproperlyConfigured(
        f"LIVE_UPDATES_URL must be a redis:// URL or 'file', got {LIVE_UPDATES_URL!r}"
    )
LIVE_UPDATES_DIR = VAR_DIR / "live"

# --- Local library ----------------------------------------------------------------
# The largest single image an import accepts (files, zip members, URLs, uploads).
LIBRARY_MAX_IMAGE_BYTES = env_count("LIBRARY_MAX_IMAGE_BYTES", 50 * 1024 * 1024, minimum=1024)

# --- Embedding backends: semantic matching for the library (webapp/library/embedding.py) ---
# "none" (the default) keeps the library to its own words and picture features. A remote
# backend without a key is answered by the emulator, and the library page says so.
EMBEDDING_BACKENDS = ("none", "opensearch", "dashscope", "local")
EMBEDDING_BACKEND = env_str("EMBEDDING_BACKEND", "none").lower()
if EMBEDDING_BACKEND not in EMBEDDING_BACKENDS:
    raise ImproperlyConfigured(
        f"EMBEDDING_BACKEND must be one of {', '.join(EMBEDDING_BACKENDS)}, "
        f"got {EMBEDDING_BACKEND!r}"
    )
# How much the embedding's similarity counts against the library's own scores (0–1).
EMBEDDING_WEIGHT = env_float("EMBEDDING_WEIGHT", 0.5)
if EMBEDDING_WEIGHT > 1:
    raise ImproperlyConfigured(f"EMBEDDING_WEIGHT must be between 0 and 1, got {EMBEDDING_WEIGHT}")
# One API call while importing (retries included), and one while a person waits for a search.
EMBEDDING_TIMEOUT_SECONDS = env_float("EMBEDDING_TIMEOUT_SECONDS", 30.0)
EMBEDDING_QUERY_TIMEOUT_SECONDS = env_float("EMBEDDING_QUERY_TIMEOUT_SECONDS", 5.0)


def _embedding_model(name: str, default: str, known: dict[str, int]) -> str:
    value = env_str(name, default)
    if value not in known:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(known)}, got {value!r}")
    return value


OPENSEARCH_EMBEDDING_API_KEY = env_str("OPENSEARCH_EMBEDDING_API_KEY")
OPENSEARCH_EMBEDDING_HOST = env_str("OPENSEARCH_EMBEDDING_HOST")
OPENSEARCH_EMBEDDING_WORKSPACE = env_str("OPENSEARCH_EMBEDDING_WORKSPACE", "default")
OPENSEARCH_EMBEDDING_MODEL = _embedding_model(
    "OPENSEARCH_EMBEDDING_MODEL", "ops-m2-encoder", opensearch_embedding.MODELS
)
OPENSEARCH_EMBEDDING_QPS = env_count(
    "OPENSEARCH_EMBEDDING_QPS", opensearch_embedding.QPS, minimum=1
)
OPENSEARCH_EMBEDDING_EMULATED = not OPENSEARCH_EMBEDDING_API_KEY
if EMBEDDING_BACKEND == "opensearch" and not OPENSEARCH_EMBEDDING_EMULATED:
    if not OPENSEARCH_EMBEDDING_HOST:
        raise ImproperlyConfigured(
            "OPENSEARCH_EMBEDDING_HOST must be set with OPENSEARCH_EMBEDDING_API_KEY: the "
            "workspace's endpoint, e.g. http://xxx.platform-cn-shanghai.opensearch.aliyuncs.com"
        )
    OPENSEARCH_EMBEDDING_HOST = env_url("OPENSEARCH_EMBEDDING_HOST", OPENSEARCH_EMBEDDING_HOST)
OPENSEARCH_EMBEDDING_EFFECTIVE_HOST = (
    EMULATOR_URL if OPENSEARCH_EMBEDDING_EMULATED else OPENSEARCH_EMBEDDING_HOST
)

# The Responses API's key serves here too unless a separate one is given (the embedding
# model lives in the China (Beijing) region only, which may need a key of its own).
DASHSCOPE_EMBEDDING_API_KEY = env_str("DASHSCOPE_EMBEDDING_API_KEY") or DASHSCOPE_API_KEY
DASHSCOPE_EMBEDDING_BASE_URL = env_url(
    "DASHSCOPE_EMBEDDING_BASE_URL", "https://dashscope.aliyuncs.com"
)
DASHSCOPE_EMBEDDING_MODEL = _embedding_model(
    "DASHSCOPE_EMBEDDING_MODEL", "multimodal-embedding-v1", dashscope_embedding.MODELS
)
DASHSCOPE_EMBEDDING_EMULATED = not DASHSCOPE_EMBEDDING_API_KEY
DASHSCOPE_EMBEDDING_EFFECTIVE_BASE_URL = (
    EMULATOR_URL if DASHSCOPE_EMBEDDING_EMULATED else DASHSCOPE_EMBEDDING_BASE_URL
)

# A folder holding an exported CLIP model (webapp/providers/local_clip.py says which files).
LOCAL_CLIP_MODEL = env_str("LOCAL_CLIP_MODEL")
LOCAL_CLIP_THREADS = env_count("LOCAL_CLIP_THREADS", 0)  # 0: ONNX Runtime's default
if EMBEDDING_BACKEND == "local" and not Path(LOCAL_CLIP_MODEL or "/nonexistent").is_dir():
    raise ImproperlyConfigured(
        "EMBEDDING_BACKEND=local needs LOCAL_CLIP_MODEL, the folder of an exported CLIP "
        f"model on this machine; got {LOCAL_CLIP_MODEL or 'nothing'!r}"
    )

if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must not be empty")
