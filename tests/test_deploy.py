"""Safe defaults: production settings pass `check --deploy`; a server without its environment refuses to start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What the settings read from the environment; each run starts without any of it.
SETTINGS_ENV = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "HTTPS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "DJANGO_SETTINGS_MODULE",
    # Set by the browser tests for their live server; never in production.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def show(expression: str, **env: str) -> str:
    """A settings value as a fresh process started with this environment sees it."""
    result = manage("shell", "--no-imports", "-c", f"from django.conf import settings; print({expression})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def production(**extra: str) -> dict[str, str]:
    return {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "uploads.example.com", "HTTPS": "1", **extra}


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_https_check_deploy_names_what_to_set():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production(HTTPS="0"))

    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_debug_is_off_unless_set():
    assert show("settings.DEBUG", **production()) == "False"
    assert show("settings.DEBUG", DEBUG="1") == "True"


def test_a_server_without_secret_key_and_debug_refuses_to_start_and_says_what_to_set():
    for command in (("check", "--deploy"), ("runserver", "--noreload", "127.0.0.1:0")):
        result = manage(*command)

        assert result.returncode != 0
        assert "ImproperlyConfigured: SECRET_KEY is not set. Set the SECRET_KEY environment variable" in result.stderr


def test_development_keeps_one_private_key_not_a_public_constant():
    """DEBUG=1 without a key: a random key kept in var/, the same for every process (sessions survive reloads)."""
    first, second = show("settings.SECRET_KEY", DEBUG="1"), show("settings.SECRET_KEY", DEBUG="1")

    assert first == second
    assert len(first) >= 50
    assert "dev-only-insecure-key" not in first
    assert first == (ROOT / "var" / "dev-secret-key").read_text().strip()


def test_migrations_can_be_checked_without_a_key():
    result = manage("makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stderr
