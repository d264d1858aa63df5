"""Adoption: the wheel alone, installed into a fresh virtualenv, serves a project written from scratch.

The wheel is built from the checkout and installed with its declared dependencies into a new virtualenv, once
with the pinned Django 6.x and once with Django 5.2 LTS. In a temporary folder, without this repository on its
path, the test runs that Django's ``django-admin startproject`` and follows the README's "Using the engine" recipe
word for word: the README's code blocks marked ``# settings.py``, ``# urls.py``, ``# models.py``, ``# uploads.py``
and ``# admin.py`` are taken from README.md as they are (an app ``library`` with the README's ``Book`` and its
``ModelUploadSpec``), so the recipe cannot drift from what is tested. A second app, ``adoption_app``, holds the
issue's three declarations (airports, stock prices with a lookup and a date format, penguins with ``NA`` cells in
create mode), written into the project from ``tests/adoption_app/`` (text copied, never imported from here).

The project is migrated and served by ``runserver``; the test walks the wizard over real HTTP (login, start,
upload, preview, confirm) with the real database session backend, for each spec a CSV and an .xlsx, each spec once
with a file above ``TASK_THRESHOLD_ROWS`` (so it goes through the tasks framework), and compares every record in
the project's database with the files. A user without the model's permissions gets the engine's own 403 page,
which says why.

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

# --- the throwaway project: startproject, then the README's recipe --------------------------------------------------

README_FILES = ("settings.py", "urls.py", "models.py", "uploads.py", "admin.py")


def readme_blocks() -> dict[str, str]:
    """The README's "Using the engine" code blocks, by the file their first line names (``# uploads.py``)."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Using the engine", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        first, _, rest = block.partition("\n")
        if first.startswith("# ") and first[2:].strip() in README_FILES:
            blocks[first[2:].strip()] = rest
    assert sorted(blocks) == sorted(README_FILES), f"README blocks found: {sorted(blocks)}"
    return blocks


#: What this project adds to the README's settings: its own apps, a folder for the login template (the README says
#: so in prose), LocaleMiddleware (to see the German catalogue), and test-only values.
SETTINGS_AFTER_README = """

# --- the adoption test's own additions ---
INSTALLED_APPS += ["library", "adoption_app"]
TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1, "django.middleware.locale.LocaleMiddleware")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
BULKUPLOAD = {**BULKUPLOAD, "FILE_ROOT": str(BASE_DIR / "private-uploads"), "TASK_THRESHOLD_ROWS": %(threshold)d}
"""

LOGIN_TEMPLATE = """
<!DOCTYPE html>
<html><head><title>Log in</title></head><body>
<form method="post">{% csrf_token %}{{ form.as_p }}<button type="submit">Log in</button></form>
</body></html>
"""


def write_project(python: Path, folder: Path) -> None:
    """``django-admin startproject mysite``, then the README's blocks and the issue's three specs, as an adopter would."""
    folder.mkdir(parents=True)
    run([str(python.parent / "django-admin"), "startproject", "mysite", "."], cwd=folder, env=clean_env())
    blocks = readme_blocks()
    settings = folder / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text(encoding="utf-8") + "\n" + blocks["settings.py"] + SETTINGS_AFTER_README % {"threshold": THRESHOLD},
        encoding="utf-8",
    )
    files = {
        "mysite/urls.py": blocks["urls.py"],
        "templates/registration/login.html": textwrap.dedent(LOGIN_TEMPLATE).lstrip(),
        "library/__init__.py": "",
        "library/models.py": blocks["models.py"],
        "library/uploads.py": blocks["uploads.py"],
        "library/admin.py": blocks["admin.py"],
        "adoption_app/__init__.py": "",
        "adoption_app/models.py": (ROOT / "tests" / "adoption_app" / "models.py").read_text(encoding="utf-8"),
        "adoption_app/uploads.py": (ROOT / "tests" / "adoption_app" / "uploads.py").read_text(encoding="utf-8"),
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


# --- the files an adopter uploads: a header and rows, as CSV text or as .xlsx cells ---------------------------------


def xlsx_bytes(header: list[str], rows: list[list]) -> bytes:
    """A workbook with real cells: dates as date cells, decimals and floats as numbers, None as an empty cell."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def number(value: object) -> str:
    """A number as comparable text: ``39.81``, ``39.8100`` and ``Decimal("39.81")`` are all ``39.81``."""
    return format(decimal.Decimal(str(value)).normalize(), "f")


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
    write_project(venv, folder)
    served = Site(venv, folder, f"http://127.0.0.1:{free_port()}")
    served.manage("makemigrations", "library", "adoption_app")
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

    def preview(self, spec: str, filename: str, content: bytes) -> tuple[str, Response]:
        """Start and upload: the preview URL and the preview page (after any progress page)."""
        started = self.post(f"/uploads/{spec}/new/", {})
        assert started.status == 302 and started.location.endswith("/upload/"), started
        self.step = f"bulkupload_{started.location.rstrip('/').split('/')[-2]}-current_step"
        uploaded = self.post(started.location, {self.step: "upload"}, {"upload-file": (filename, content)})
        assert uploaded.status == 302, uploaded.text[-2000:]
        preview = self.follow(uploaded)
        assert preview.status == 200 and "data-count=" in preview.text, preview.text[-2000:]
        return started.location.replace("/upload/", "/preview/"), preview

    def upload(self, spec: str, filename: str, content: bytes) -> Response:
        """Start, upload, preview, confirm: each step one request; the receipt page at the end."""
        preview_url, _preview = self.preview(spec, filename, content)
        return self.confirm(preview_url, filename)

    def confirm(self, preview_url: str, filename: str) -> Response:
        """From the preview on: to the confirm step, confirm, and the receipt page."""
        to_confirm = self.post(preview_url, {self.step: "preview"})
        assert to_confirm.status == 302 and to_confirm.location.endswith("/confirm/"), to_confirm
        assert self.get(to_confirm.location).status == 200
        done = self.post(to_confirm.location, {self.step: "confirm", "confirm-overwrite": "on"})
        assert done.status == 302, done.text[-2000:]
        receipt = self.follow(done)
        assert receipt.status == 200 and filename in receipt.text, receipt.text[-2000:]
        return receipt


# --- the data: the README's books and the three public data sets ------------------------------------------


def query_rows(site: Site, model: str, fields: str, order: str) -> list:
    """Every record of ``model`` (``app.Model``) as JSON lists of the ``fields`` expressions (``r`` is the record)."""
    app, name = model.split(".")
    return site.query(
        f"import json; from {app}.models import {name}; from decimal import Decimal\n"
        "n = lambda v: None if v is None else format(Decimal(str(v)).normalize(), 'f')\n"
        f"print(json.dumps([[{fields}] for r in {name}.objects.order_by({order})]))"
    )


def spoken(day: datetime.date) -> str:
    """A date as stock price files write it (``Jan 3 2000``): parsed by the spec's ``date_formats``."""
    return f"{day:%b} {day.day} {day.year}"


BOOK_HEADER = ["ISBN", "Title", "Author", "Pages", "Published", "Price"]
AUTHORS = ["Ursula K. Le Guin", "Stanisław Lem", "Octavia E. Butler"]


def book(n: int, *, title: str | None = None, price: str | None = None) -> list:
    published = datetime.date(2020, 1, 1) + datetime.timedelta(days=n)
    return [f"978-{n:010d}", title or f"Über Bücher, Band {n}", AUTHORS[n % 3], 100 + n, published, price or f"{n}.50"]


def check_books(site: Site, browser: Browser) -> None:
    """The README's spec: an .xlsx above the threshold, then a CSV (dates as ``Jan 5 2020``) changing two, adding three."""
    site.query(f"import json; from library.models import Author; [Author.objects.create(name=n) for n in {AUTHORS!r}]; print(1)")
    template = browser.get("/uploads/library-book/template.xlsx")
    assert template.status == 200 and template.body.startswith(b"PK")
    first = [book(n) for n in range(1, THRESHOLD + 16)]
    xlsx = [[i, t, a, p, d, decimal.Decimal(price)] for i, t, a, p, d, price in first]  # real date and number cells
    browser.upload("library-book", "books.xlsx", xlsx_bytes(BOOK_HEADER, xlsx))
    assert site.query("import json; from bulkupload.models import UploadBatch; print(json.dumps(UploadBatch.objects.get().task_id != ''))")
    second = [book(3, title="Neu: Band 3"), book(7, price="99.00"), *[book(n) for n in range(100, 103)]]
    receipt = browser.upload("library-book", "changes.csv", csv_bytes(BOOK_HEADER, [[*r[:4], spoken(r[4]), r[5]] for r in second]))
    expected = {row[0]: row for row in first} | {row[0]: row for row in second}
    stored = query_rows(site, "library.Book", "r.isbn, r.title, r.author.name, r.pages, r.published.isoformat(), str(r.price)", '"isbn"')
    assert stored == [[i, t, a, p, d.isoformat(), price] for i, t, a, p, d, price in sorted(expected.values())]
    # The receipt offers a rollback, whose page renders in the bare project too (nothing is rolled back here).
    rollback = re.search(r'href="(/uploads/batches/[0-9a-f-]+/rollback/)"', receipt.text).group(1)
    assert browser.get(rollback).status == 200


AIRPORT_HEADER = ["iata", "name", "city", "state", "country", "latitude", "longitude"]  # as airports.csv has it


def airport(n: int) -> list:
    """A row of airports.csv; coordinates with 8 decimals as there (a workbook keeps about 16 significant digits)."""
    abroad = n % 5 == 0  # no state outside the USA: an empty cell in a column the model lets be blank
    return [
        f"X{n:02d}",
        f"Field {n}",
        f"Town {n}",
        "" if abroad else "MS",
        "Canada" if abroad else "USA",
        round(30 + n / 7, 8),
        round(-89 - n / 3, 8),
    ]


def last_batch_counts(site: Site) -> dict[str, int]:
    return site.query(
        "import json; from bulkupload.models import UploadBatch; b = UploadBatch.objects.order_by('-created_at').first(); "
        "print(json.dumps({k: getattr(b, k + '_count') for k in ('new', 'update', 'unchanged', 'invalid', 'created', 'updated')}))"
    )


def check_airports(site: Site, browser: Browser) -> None:
    """Upsert by ``iata``: an .xlsx above the threshold; the same rows as CSV are all unchanged; three cells, three updates."""
    rows = [airport(n) for n in range(1, THRESHOLD + 16)]
    browser.upload("adoption_app-airport", "airports.xlsx", xlsx_bytes(AIRPORT_HEADER, rows))
    assert last_batch_counts(site)["created"] == len(rows)
    browser.preview("adoption_app-airport", "airports.csv", csv_bytes(AIRPORT_HEADER, rows))
    assert last_batch_counts(site) == {"new": 0, "update": 0, "unchanged": len(rows), "invalid": 0, "created": 0, "updated": 0}
    changed = [list(row) for row in rows]
    changed[2][1], changed[10][5], changed[20][2] = "Renamed Field", 45.5, "Other Town"
    browser.upload("adoption_app-airport", "airports-3-changes.csv", csv_bytes(AIRPORT_HEADER, changed))
    counts = last_batch_counts(site)
    assert (counts["update"], counts["updated"], counts["new"], counts["unchanged"]) == (3, 3, 0, len(rows) - 3), counts
    stored = query_rows(site, "adoption_app.Airport", "r.iata, r.name, r.city, r.state, r.country, r.latitude, r.longitude", '"iata"')
    assert stored == changed


STOCK_HEADER = ["symbol", "date", "price"]  # as stocks.csv has it
TICKERS = ["AAPL", "MSFT", "IBM"]


def check_stock_prices(site: Site, browser: Browser) -> None:
    """A lookup by ticker and ``date_formats``: a CSV with ``Jan 3 2000`` dates, an .xlsx with date cells and numbers."""
    companies = f"[Company.objects.create(ticker=t, name=t.title()) for t in {TICKERS!r}]"
    site.query(f"from adoption_app.models import Company; {companies}; print(1)")
    monthly = [[t, datetime.date(2000, m, 1), f"{20 + m * 1.37 + i:.2f}"] for i, t in enumerate(TICKERS) for m in range(1, 7)]
    as_written = csv_bytes(STOCK_HEADER, [[t, spoken(d), p] for t, d, p in monthly])
    preview_url, preview = browser.preview("adoption_app-stockprice", "stocks.csv", as_written)
    assert "MSFT" in preview.text and "Unknown company" not in preview.text  # the preview names the company by ticker
    browser.confirm(preview_url, "stocks.csv")
    daily = [["IBM", datetime.date(2001, 1, 1) + datetime.timedelta(days=n), f"{80 + n * 0.25:.2f}"] for n in range(THRESHOLD + 5)]
    browser.upload("adoption_app-stockprice", "ibm.xlsx", xlsx_bytes(STOCK_HEADER, [[t, d, float(p)] for t, d, p in daily]))
    stored = query_rows(site, "adoption_app.StockPrice", "r.symbol.ticker, r.date.isoformat(), n(r.price)", '"symbol__ticker", "date"')
    assert stored == sorted([t, d.isoformat(), number(p)] for t, d, p in monthly + daily)
    # A ticker the database does not know is an invalid cell that names it.
    _url, unknown = browser.preview("adoption_app-stockprice", "tesla.csv", csv_bytes(STOCK_HEADER, [["TSLA", "Jan 3 2000", "1.00"]]))
    assert "Unknown company “TSLA”." in unknown.text


PENGUIN_HEADER = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]
#: The first rows of palmerpenguins' penguins.csv (``NA`` where a value is missing), and one row twice.
PENGUINS_CSV = """
Adelie,Torgersen,39.1,18.7,181,3750,male,2007
Adelie,Torgersen,39.5,17.4,186,3800,female,2007
Adelie,Torgersen,40.3,18,195,3250,female,2007
Adelie,Torgersen,NA,NA,NA,NA,NA,2007
Adelie,Torgersen,36.7,19.3,193,3450,female,2007
Adelie,Torgersen,34.1,18.1,193,3475,NA,2007
Adelie,Torgersen,42,20.2,190,4250,NA,2007
Gentoo,Biscoe,46.1,13.2,211,4500,female,2007
Gentoo,Biscoe,46.1,13.2,211,4500,female,2007
Chinstrap,Dream,46.5,17.9,192,3500,female,2007
Chinstrap,Dream,50,19.5,196,3900,male,2007
"""


def penguin_record(row: list) -> list:
    """What the database holds for a file row: the choice's value, ``NA`` as null (or blank text), numbers compared as text."""
    species, island, length, depth, flipper, mass, sex, year = ("NA" if cell is None else cell for cell in row)
    na = lambda value: None if value == "NA" else value  # noqa: E731
    return [species.lower(), island, *(na(v) and number(v) for v in (length, depth, flipper, mass)), na(sex) or "", int(year)]


def check_penguins(site: Site, browser: Browser) -> None:
    """Create mode with ``empty_values = ("NA",)``: every row is a new record, the duplicate too; ``NA`` is no value."""
    from_csv = [line.split(",") for line in PENGUINS_CSV.split()]
    browser.upload("adoption_app-penguin", "penguins.csv", csv_bytes(PENGUIN_HEADER, from_csv))
    from_xlsx = [
        [
            "Gentoo",
            "Biscoe",
            45 + n / 10,
            15.5,
            None if n % 4 == 0 else 210 + n,
            "NA" if n % 3 == 0 else 5000 + n,
            "male" if n % 2 else "NA",
            2008,
        ]
        for n in range(THRESHOLD + 5)
    ]
    browser.upload("adoption_app-penguin", "penguins.xlsx", xlsx_bytes(PENGUIN_HEADER, from_xlsx))
    fields = "r.species, r.island, n(r.bill_length_mm), n(r.bill_depth_mm), n(r.flipper_length_mm), n(r.body_mass_g), r.sex, r.year"
    stored = query_rows(site, "adoption_app.Penguin", fields, '"id"')
    expected = [penguin_record(row) for row in from_csv + from_xlsx]
    assert sorted(map(json.dumps, stored)) == sorted(map(json.dumps, expected))


# --- the test ------------------------------------------------------------------------------------------------------


def test_the_wheel_alone_serves_a_new_project_through_the_whole_wizard(site):
    version = site.query("import django, json, bulkupload; print(json.dumps([django.get_version(), bulkupload.__file__]))")
    assert str(ROOT) not in version[1] and "site-packages" in version[1], version  # the installed wheel, not the checkout
    browser = Browser(site.url)
    browser.log_in("ada", PASSWORD)

    index = browser.get("/uploads/")
    assert index.status == 200 and "Start a new upload" in index.text
    assert all(title in index.text for title in ("Books", "Airports", "Stock prices", "Penguins")), index.text
    assert browser.get("/static/bulkupload/bulkupload.css").status == 200  # the engine's page has its CSS

    check_books(site, browser)
    check_airports(site, browser)
    check_stock_prices(site, browser)
    check_penguins(site, browser)
    # Each spec had a file above the threshold, and those (only those) went through the tasks framework.
    tasks = "[[b.spec, b.total_rows, b.task_id != ''] for b in UploadBatch.objects.filter(status='applied')]"
    batches = site.query(f"import json; from bulkupload.models import UploadBatch; print(json.dumps({tasks}))")
    assert all(by_task == (rows > THRESHOLD) for _spec, rows, by_task in batches), batches
    big = {spec for spec, rows, _by_task in batches if rows > THRESHOLD}
    assert big == {"library-book", "adoption_app-airport", "adoption_app-stockprice", "adoption_app-penguin"}, batches
    # The wizard's state went through the database session backend.
    assert site.query("from django.contrib.sessions.models import Session; print(Session.objects.count())") >= 1

    # The engine's German catalogue ships in the wheel; the admin has the upload button.
    german = Browser(site.url, language="de")
    german.log_in("ada", PASSWORD)
    assert "Neuen Upload starten" in german.get("/uploads/").text
    assert "Upload spreadsheet" in browser.get("/admin/library/book/").text


def test_a_user_without_the_models_permissions_gets_the_engines_403_page_saying_why(site):
    """Logged in, no permission on airports: the bare project (no 403.html of its own) shows the engine's reason."""
    site.query(f"from django.contrib.auth.models import User; User.objects.create_user('bob', password={PASSWORD!r}); print(1)")
    bob = Browser(site.url)
    bob.log_in("bob", PASSWORD)
    assert "adoption_app-airport" not in bob.get("/uploads/").text
    for refused in (bob.get("/uploads/adoption_app-airport/new/"), bob.post("/uploads/adoption_app-airport/new/", {})):
        assert refused.status == 403
        assert "You need permission to add and change airports to upload them" in refused.text, refused.text
        assert "bulkupload/bulkupload.css" in refused.text  # the engine's complete page, not a bare "403 Forbidden"
    assert site.query("from bulkupload.models import UploadBatch; print(UploadBatch.objects.count())") == 0
