"""Adoption: the wheel alone, installed into a fresh virtualenv, serves a project written from scratch.

The wheel is built from the checkout and installed with its declared dependencies into a new virtualenv, once
with the pinned Django 6.x and once with Django 5.2 LTS. A throwaway project (settings, urls, a login page, an app
with a model, an ``uploads.py`` and an admin, written below as a new adopter would after the README) lives in a
temporary folder, without this repository on its path. It is migrated and served by ``runserver``; the test then
walks the wizard over real HTTP (login, start, upload, preview, confirm) with the real database session backend,
for an .xlsx above ``TASK_THRESHOLD_ROWS`` (so it goes through the tasks framework) and a CSV that updates some of
its rows, and compares every record in the project's database with the files.

Slow (a virtualenv and a server per Django version; the virtualenvs are made once per test session): deselect
locally with ``-m "not package"``. CI runs it.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import http.cookiejar
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import Workbook

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "adopter-password-1"
THRESHOLD = 25

# --- the throwaway project, as the README's "Using the engine" recipe has it -----------------------------------------

SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "throwaway-project-key-for-the-adoption-test-only-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "formtools",
    "bulkupload",
    "library",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "mysite.urls"
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
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "bulkupload:index"
LANGUAGES = [("en", "English"), ("de", "German")]
USE_TZ = True
STATIC_URL = "static/"
BULKUPLOAD = {"FILE_ROOT": str(BASE_DIR / "private-uploads"), "TASK_THRESHOLD_ROWS": %(threshold)d}
"""

URLS = """
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("uploads/", include("bulkupload.urls")),
    path("admin/", admin.site.urls),
]
"""

LOGIN_TEMPLATE = """
<!DOCTYPE html>
<html><head><title>Log in</title></head><body>
<form method="post">{% csrf_token %}{{ form.as_p }}<button type="submit">Log in</button></form>
</body></html>
"""

MODELS = """
from django.db import models


class Book(models.Model):
    isbn = models.CharField("ISBN", max_length=20, unique=True)
    title = models.CharField(max_length=200)
    pages = models.PositiveIntegerField()
    published = models.DateField()
    price = models.DecimalField(max_digits=8, decimal_places=2)
"""

ADMIN = """
from django.contrib import admin

from bulkupload.admin import SpreadsheetUploadAdminMixin

from .models import Book


@admin.register(Book)
class BookAdmin(SpreadsheetUploadAdminMixin, admin.ModelAdmin):
    list_display = ["isbn", "title", "pages", "published", "price"]
"""

#: The app's upload declaration, with today's UploadSpec API. Kept as one separate string: it is what changes when
#: the declaration API changes (ModelUploadSpec).
UPLOADS = """
from django import forms

from bulkupload import fields, spec

from .models import Book


class BookRowForm(forms.Form):
    isbn = forms.CharField(max_length=20)
    title = forms.CharField(max_length=200)
    pages = forms.IntegerField(min_value=1)
    published = fields.SpreadsheetDateField()
    price = fields.SpreadsheetDecimalField(max_digits=8, decimal_places=2)

    def __init__(self, *args, context, **kwargs):
        super().__init__(*args, **kwargs)


@spec.register
class BookUpload(spec.UploadSpec):
    slug = "books"
    model = Book
    form_class = BookRowForm
    natural_key = ("isbn",)
    columns = (
        spec.Column("isbn", "ISBN", required=True, field="isbn"),
        spec.Column("title", "Title", required=True, field="title"),
        spec.Column("pages", "Pages", required=True, field="pages"),
        spec.Column("published", "Published", required=True, field="published"),
        spec.Column("price", "Price", required=True, field="price"),
    )
"""

HEADER = ["ISBN", "Title", "Pages", "Published", "Price"]


def write_project(folder: Path) -> None:
    files = {
        "manage.py": "import os, sys\nfrom django.core.management import execute_from_command_line\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\nexecute_from_command_line(sys.argv)\n',
        "mysite/__init__.py": "",
        "mysite/settings.py": SETTINGS % {"threshold": THRESHOLD},
        "mysite/urls.py": URLS,
        "templates/registration/login.html": LOGIN_TEMPLATE,
        "library/__init__.py": "",
        "library/models.py": MODELS,
        "library/admin.py": ADMIN,
        "library/uploads.py": UPLOADS,
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


# --- the files an adopter uploads ----------------------------------------------------------------------------------


def book(n: int, *, title: str | None = None, price: str | None = None) -> list:
    return [
        f"978-{n:010d}",
        title or f"Über Bücher, Band {n}",
        100 + n,
        datetime.date(2020, 1, 1) + datetime.timedelta(days=n),
        price or f"{n}.50",
    ]


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for isbn, title, pages, published, price in rows:
        sheet.append([isbn, title, pages, published, decimal.Decimal(price)])  # real date and number cells
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([isbn, title, pages, published.isoformat(), price] for isbn, title, pages, published, price in rows)
    return buffer.getvalue().encode("utf-8")


# --- virtualenvs with the wheel ------------------------------------------------------------------------------------


def run(command: list, *, cwd: Path, env: dict | None = None, timeout: int = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points back at this checkout."""
    drop = {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONHOME"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def pinned(requirement: str) -> str:
    """The exact pin of a package in requirements.txt (the versions CI tests with)."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.lower().startswith(requirement.lower() + "=="):
            return line.strip()
    raise LookupError(requirement)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what the build reads (setuptools builds in-tree and keeps a build/ folder
    whose stale files a later build could pack; the copy also leaves the checkout untouched)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bulkupload", source / "bulkupload", ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out), str(source)], cwd=out)
    (built,) = out.glob("bulkupload-*.whl")
    return built


DJANGOS = {"django-6": lambda: pinned("Django"), "django-5.2": lambda: "Django>=5.2,<5.3"}


@pytest.fixture(scope="session", params=sorted(DJANGOS))
def venv(request, wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheel, its declared dependencies and the chosen Django; its python."""
    home = tmp_path_factory.mktemp(request.param)
    run([sys.executable, "-m", "venv", str(home / "venv")], cwd=home)
    python = home / "venv" / "bin" / "python"
    # The same versions as the test suite's for the other dependencies, where requirements.txt pins them.
    constraints = home / "constraints.txt"
    pins = [pinned(name) for name in ("django-formtools", "openpyxl", "python-calamine", "defusedxml", "django-tasks")]
    constraints.write_text("\n".join(pins) + "\n")
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-c",
            str(constraints),
            str(wheel),
            DJANGOS[request.param](),
        ],
        cwd=home,
        env=clean_env(),
    )
    return python


# --- the served project and a browser without a browser ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Site:
    python: Path
    folder: Path
    url: str

    def manage(self, *args: str) -> str:
        return run([str(self.python), "manage.py", *args], cwd=self.folder, env=clean_env())

    def query(self, code: str) -> object:
        """A value computed by the project's own Django, as JSON (the last line printed)."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])


@pytest.fixture
def site(venv, tmp_path) -> Iterator[Site]:
    folder = tmp_path / "adopter"
    write_project(folder)
    served = Site(venv, folder, f"http://127.0.0.1:{free_port()}")
    served.manage("makemigrations", "library")
    served.manage("migrate", "--noinput")
    run(
        [str(venv), "manage.py", "createsuperuser", "--noinput", "--username", "ada", "--email", "ada@example.com"],
        cwd=folder,
        env=clean_env(DJANGO_SUPERUSER_PASSWORD=PASSWORD),
    )
    port = served.url.rsplit(":", 1)[1]
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [str(venv), "manage.py", "runserver", "--noreload", "--insecure", f"127.0.0.1:{port}"],
        cwd=folder,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(served.url + "/accounts/login/", timeout=5)  # noqa: S310 (loopback)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()
                time.sleep(0.3)
        yield served
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Response:
    status: int
    location: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Browser:
    """Cookies, CSRF tokens and forms over real HTTP, one request at a time; redirects are returned, not followed."""

    def __init__(self, base: str, language: str = "en") -> None:
        self.base = base
        self.language = language
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects)

    def csrf(self) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")

    def request(self, path: str, body: bytes | None = None, content_type: str = "") -> Response:
        headers = {"Accept-Language": self.language}
        if content_type:
            headers["Content-Type"] = content_type
        method = "POST" if body is not None else "GET"
        request = urllib.request.Request(self.base + path, data=body, headers=headers, method=method)  # noqa: S310 (loopback http)
        try:
            with self.opener.open(request, timeout=120) as answer:
                return Response(answer.status, answer.headers.get("Location", ""), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers.get("Location", ""), error.read())

    def get(self, path: str) -> Response:
        return self.request(path)

    def post(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None) -> Response:
        fields = {"csrfmiddlewaretoken": self.csrf(), **fields}
        if not files:
            return self.request(path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
        for name, (filename, content) in files.items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            parts.append(f"{head}Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
        return self.request(path, b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}")

    def log_in(self, username: str, password: str) -> None:
        assert self.get("/accounts/login/").status == 200
        answer = self.post("/accounts/login/", {"username": username, "password": password})
        assert answer.status == 302 and answer.location == "/uploads/", answer

    def follow(self, answer: Response) -> Response:
        """Follow redirects, waiting on a progress page while a task works (it refreshes itself)."""
        for _ in range(120):
            if answer.status == 302:
                answer = self.get(answer.location)
            elif 'http-equiv="refresh"' in answer.text:
                time.sleep(0.5)
                answer = self.get(re.search(r'content="\d+;\s*url=([^"]+)"', answer.text).group(1).replace("&amp;", "&"))
            else:
                return answer
        raise AssertionError("the progress page never finished")

    def upload(self, spec: str, filename: str, content: bytes) -> Response:
        """Start, upload, preview, confirm: each step one request; the receipt page at the end."""
        started = self.post(f"/uploads/{spec}/new/", {})
        assert started.status == 302 and started.location.endswith("/upload/"), started
        upload_id = started.location.rstrip("/").split("/")[-2]
        step = f"bulkupload_{upload_id}-current_step"
        uploaded = self.post(started.location, {step: "upload"}, {"upload-file": (filename, content)})
        preview_url = started.location.replace("/upload/", "/preview/")
        assert uploaded.status == 302, uploaded.text[-2000:]
        preview = self.follow(uploaded)
        assert preview.status == 200 and "data-count=" in preview.text, preview.text[-2000:]
        to_confirm = self.post(preview_url, {step: "preview"})
        assert to_confirm.status == 302 and to_confirm.location.endswith("/confirm/"), to_confirm
        assert self.get(to_confirm.location).status == 200
        done = self.post(to_confirm.location, {step: "confirm", "confirm-overwrite": "on"})
        assert done.status == 302, done.text[-2000:]
        return self.follow(done)


# --- the test ------------------------------------------------------------------------------------------------------

BOOKS = """
import json
from library.models import Book
print(json.dumps([[b.isbn, b.title, b.pages, b.published.isoformat(), str(b.price)] for b in Book.objects.order_by("isbn")]))
"""


def test_the_wheel_alone_serves_a_new_project_through_the_whole_wizard(site):
    version = site.query("import django, json, bulkupload; print(json.dumps([django.get_version(), bulkupload.__file__]))")
    assert str(ROOT) not in version[1] and "site-packages" in version[1], version  # the installed wheel, not the checkout
    browser = Browser(site.url)
    browser.log_in("ada", PASSWORD)

    index = browser.get("/uploads/")
    assert index.status == 200 and "Books" in index.text and "Start a new upload" in index.text
    assert browser.get("/static/bulkupload/bulkupload.css").status == 200  # the engine's page has its CSS
    template = browser.get("/uploads/books/template.xlsx")
    assert template.status == 200 and template.body.startswith(b"PK")

    # Above the task threshold: read, checked and applied through the tasks framework of this Django.
    first = [book(n) for n in range(1, THRESHOLD + 16)]
    receipt = browser.upload("books", "books.xlsx", xlsx_bytes(first))
    assert receipt.status == 200 and "books.xlsx" in receipt.text
    assert site.query(BOOKS) == [[i, t, p, d.isoformat(), price] for i, t, p, d, price in first]
    assert site.query("import json; from bulkupload.models import UploadBatch; print(json.dumps(UploadBatch.objects.get().task_id != ''))")
    # The wizard's state went through the database session backend.
    assert site.query("from django.contrib.sessions.models import Session; print(Session.objects.count())") >= 1

    # A CSV that changes two of them and adds three: the database holds exactly what the files say.
    second = [book(3, title="Neu: Band 3"), book(7, price="99.00"), *[book(n) for n in range(100, 103)]]
    receipt = browser.upload("books", "changes.csv", csv_bytes(second))
    assert receipt.status == 200 and "changes.csv" in receipt.text
    expected = {row[0]: row for row in first} | {row[0]: row for row in second}
    assert site.query(BOOKS) == [[i, t, p, d.isoformat(), price] for i, t, p, d, price in sorted(expected.values())]

    # The receipt offers a rollback, whose page renders in the bare project too (nothing is rolled back here).
    rollback = re.search(r'href="(/uploads/batches/[0-9a-f-]+/rollback/)"', receipt.text).group(1)
    assert browser.get(rollback).status == 200

    # The engine's German catalogue ships in the wheel; the admin has the upload button.
    german = Browser(site.url, language="de")
    german.log_in("ada", PASSWORD)
    assert "Neuen Upload starten" in german.get("/uploads/").text
    assert "Upload spreadsheet" in browser.get("/admin/library/book/").text
