"""Settings for the bulkupload demo host: a small multi-tenant timesheet service.

Safe by default: DEBUG is off and SECRET_KEY is required unless DEBUG=1 (`make run` sets it).
Everything else comes from the environment: DATABASE_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS, and for a
site served over HTTPS, HTTPS=1 (secure cookies, SSL redirect, HSTS; each also settable on its own).
"""

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Off unless the environment says otherwise: a server started without its environment must not show tracebacks.
# `make run` sets DEBUG=1 for development.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Commands that only read the code and never sign anything run without a key, so `manage.py makemigrations
# --check` and the translation commands work in a bare checkout; everything else (servers, workers, check) needs one.
KEYLESS_COMMANDS = {"makemigrations", "makemessages", "compilemessages"}
if not SECRET_KEY:
    keyless = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] and sys.argv[1] in KEYLESS_COMMANDS
    if not DEBUG and not keyless:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DEBUG=1 for development."
        )
    # Development or a keyless command: a random key kept in var/ (so sessions survive the autoreloader), never a
    # public constant.
    dev_key = BASE_DIR / "var" / "dev-secret-key"
    if not dev_key.exists():
        dev_key.parent.mkdir(exist_ok=True)
        dev_key.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = dev_key.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()]

# Served over HTTPS (HTTPS=1): secure cookies, redirect to https and HSTS, so `manage.py check --deploy` is clean.
# Each can also be set on its own; behind a proxy that terminates TLS set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"], "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "formtools",
    # The database task backend; only used when TASKS_BACKEND=database (see TASKS below).
    "django_tasks_db",
    "bulkupload",
    # The optional JSON API (bulkupload[api]): Django REST framework, its tokens, the OpenAPI schema and its docs page.
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "project.timesheets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless a view opts out (the login page does).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

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
                "project.tenancy.tenant_context",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DEFAULT_DATABASE_URL = f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
# Persistent connections (CONN_MAX_AGE seconds, checked before reuse): a new PostgreSQL connection per request
# costs the server a process and cold caches (bench/load.py without think time: 30 → 34 requests/s).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue instead of failing with "database is locked"; IMMEDIATE takes the
    # write lock when a transaction starts, so two confirms serialise cleanly.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    (BASE_DIR / "var").mkdir(exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The wizard's state lives in database-backed sessions, so any worker serves the next step.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# en-GB for its date format (day first); en-US browsers get "en" (month first).
LANGUAGES = [("en", "English"), ("en-gb", "English (UK)"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The API's enums by name, for a schema of the whole project (manage.py spectacular, check --deploy); the API's own
# schema view names them itself.
SPECTACULAR_SETTINGS = {
    "ENUM_NAME_OVERRIDES": {
        "UploadStatusEnum": "bulkupload.api.representation.UPLOAD_STATUSES",
        "RowStatusEnum": "bulkupload.models.UploadRow.Status",
        "DateOrderEnum": "bulkupload.api.answers.DATE_ORDERS",
    }
}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# Uploaded spreadsheets are private: they live outside any served media folder.
BULKUPLOAD = {
    # The upload pages in the demo's own look (templates/base.html) instead of the engine's page.
    "BASE_TEMPLATE": "base.html",
    "FILE_ROOT": os.environ.get("BULKUPLOAD_FILE_ROOT", str(BASE_DIR / "var" / "uploads")),
    # `make run` sets it: large files are read and applied on a thread, behind the progress page.
    "TASKS_ON_THREAD": os.environ.get("BULKUPLOAD_TASKS_ON_THREAD") == "1",
    "MAX_FILE_SIZE": int(os.environ.get("BULKUPLOAD_MAX_FILE_SIZE", 20 * 1024 * 1024)),
    "MAX_ROWS": int(os.environ.get("BULKUPLOAD_MAX_ROWS", 100_000)),
    "PURGE_AFTER_HOURS": int(os.environ.get("BULKUPLOAD_PURGE_AFTER_HOURS", 72)),
}

# Background work (django.tasks on Django 6, the django-tasks backport on 5.2; the engine chooses): files above
# BULKUPLOAD["TASK_THRESHOLD_ROWS"] rows are read, checked and applied as tasks. Without TASKS both run them at once,
# in the request (ImmediateBackend); TASKS_BACKEND=database queues them in the database for `manage.py db_worker`
# processes (django-tasks-db, which works with either).
if os.environ.get("TASKS_BACKEND") == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
BULKUPLOAD["TASK_THRESHOLD_ROWS"] = int(os.environ.get("BULKUPLOAD_TASK_THRESHOLD_ROWS", 5000))

# Large requests: the formset of a preview page posts one field per cell.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
