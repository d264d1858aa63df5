"""Load: the app under gunicorn on PostgreSQL, 20 users each walking the whole wizard five times, then the database checked.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bu_load .venv/bin/python bench/load.py [--users 20] [--runs 5] [--rows 1000]
        [--think 1.0] [--ramp 10] [--workers 5]

The database named in DATABASE_URL is dropped and created afresh (it must not be one that matters), migrated
and seeded. Each simulated user logs in once, then uploads a 1,000-row .xlsx five times through the wizard:
first all new rows, then the same keys with changed values (updates). Everything runs on loopback; the run is
bounded (a request timeout, an overall deadline, a fixed number of requests per user). It prints requests per
second and p50/p95/p99 latency per step and the error count, then checks the database: every batch applied
exactly once, the entry counts exact, no upload left behind. The exit status is 1 when any check fails.

People pause between the steps of a wizard (to find the file, to read the preview): each simulated user waits
``--think`` seconds on average (uniformly 0.5× to 1.5×, seeded) before each request after logging in, and the
users arrive spread over ``--ramp`` seconds. ``--think 0 --ramp 0`` is the stress case: every user sends its
next request the moment the last one returns, all starting at once.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import io
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
PASSWORD = "load-bench-password"  # bench-only users in a throwaway database
HEADER = ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]
ACTIVITIES = ("Development", "Design", "Meeting", "Support", "Admin")
FIRST_DAY = datetime.date(2024, 1, 1)
STEPS = ("login", "start", "upload", "preview", "to_confirm", "confirm", "receipt")


def main() -> int:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database this bench may drop and create, e.g. postgres://postgres@127.0.0.1:5432/bu_load"
        )
    env = server_env(url)
    recreate_database(url)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    setup_django(env)
    users = create_users(args.users)
    files = write_files(users, rows=args.rows)
    server = start_gunicorn(env, port=args.port, workers=args.workers)
    try:
        wait_until_up(args.port)
        started = time.monotonic()
        results = run_users(users, files, args)
        elapsed = time.monotonic() - started
    finally:
        stop(server)
    print_table(results, elapsed, args)
    failures = check_database(users, args)
    errors = sum(len(r.errors) for r in results)
    print()
    print("RESULT:", "PASS" if not failures and not errors else f"FAIL ({errors} request errors, {len(failures)} database checks failed)")
    return 1 if failures or errors else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5, help="wizard walks per user")
    parser.add_argument("--rows", type=int, default=1000, help="rows per file")
    parser.add_argument("--workers", type=int, default=max(2, min(8, 2 * (os.cpu_count() or 1) + 1)), help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--deadline", type=float, default=900, help="seconds; no user starts a walk after this")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds a user pauses before each step (0: none)")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the users arrive (0: all at once)")
    return parser.parse_args()


# --- the server and its database ------------------------------------------------------------------------


def server_env(url: str) -> dict[str, str]:
    uploads = ROOT / "var" / "bench" / "load-uploads"
    shutil.rmtree(uploads, ignore_errors=True)
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "load-bench-only-" + uuid.uuid4().hex),
        "ALLOWED_HOSTS": HOST,
        "BULKUPLOAD_FILE_ROOT": str(uploads),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in ("postgres", "bulkupload"):
        sys.exit(f"Refusing to drop the database {name!r}: name a throwaway database such as bu_load.")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict[str, str], *command: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *command], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "BULKUPLOAD_FILE_ROOT")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def start_gunicorn(env: dict[str, str], *, port: int, workers: int) -> subprocess.Popen:
    command = [str(Path(PYTHON).parent / "gunicorn"), "project.wsgi:application", "--bind", f"{HOST}:{port}"]
    command += ["--workers", str(workers), "--timeout", "120", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)


def wait_until_up(port: int) -> None:
    for _ in range(200):
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/accounts/login/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


# --- users and their files --------------------------------------------------------------------------------


def create_users(count: int) -> list[str]:
    from django.contrib.auth import get_user_model

    from project.timesheets.models import Membership, Tenant

    acme = Tenant.objects.get(name="Acme")
    names = []
    for index in range(count):
        user = get_user_model().objects.create_user(f"load{index:02d}", password=PASSWORD)
        Membership.objects.create(user=user, tenant=acme)
        names.append(user.username)
    return names


def user_days(index: int, rows: int) -> list[datetime.date]:
    """Each user's own days: no natural key and no daily total is shared between users."""
    from project.timesheets.models import Employee, Project

    per_day = Employee.objects.filter(tenant__name="Acme").count() * Project.objects.filter(tenant__name="Acme", active=True).count()
    span = -(-rows // per_day)
    return [FIRST_DAY + datetime.timedelta(days=index * span + d) for d in range(span)]


def write_files(users: list[str], *, rows: int) -> dict[tuple[str, int], bytes]:
    """Two files per user: variant 0 (first and odd walks) and variant 1 (the same keys, changed values)."""
    from openpyxl import Workbook

    from project.timesheets.models import Employee, Project

    emails = list(Employee.objects.filter(tenant__name="Acme").order_by("pk").values_list("email", flat=True))
    codes = list(Project.objects.filter(tenant__name="Acme", active=True).order_by("code").values_list("code", flat=True))
    files = {}
    for index, user in enumerate(users):
        days = user_days(index, rows)
        for variant in (0, 1):
            book = Workbook(write_only=True)
            sheet = book.create_sheet("Entries")
            sheet.append(HEADER)
            for i in range(rows):
                day = days[i // (len(emails) * len(codes))]
                hours = 0.5 + 0.25 * ((i + variant) % 3)
                note = f"task {i}" if variant == 0 else f"task {i} (revised)"
                sheet.append(
                    [
                        emails[i % len(emails)],
                        day,
                        codes[(i // len(emails)) % len(codes)],
                        hours,
                        "yes" if (i + variant) % 2 else "no",
                        ACTIVITIES[i % 5],
                        note,
                    ]
                )
            buffer = io.BytesIO()
            book.save(buffer)
            files[(user, variant)] = buffer.getvalue()
    return files


# --- the simulated users ---------------------------------------------------------------------------------------


@dataclass
class UserResult:
    user: str
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    requests: int = 0


class Browser:
    """One user's keep-alive connection and cookies; no redirects followed, every request timed by step."""

    def __init__(self, port: int, timeout: float, result: UserResult) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.cookies: dict[str, str] = {}
        self.result = result

    def request(self, step: str, method: str, path: str, *, body: bytes = b"", content_type: str = "") -> tuple[int, str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Referer": f"http://{HOST}{path}"}
        if content_type:
            headers["Content-Type"] = content_type
        if "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        started = time.perf_counter()
        self.connection.request(method, path, body=body or None, headers=headers)
        response = self.connection.getresponse()
        content = response.read().decode("utf-8", "replace")
        self.result.timings[step].append(time.perf_counter() - started)
        self.result.requests += 1
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, response.headers.get("Location", ""), content

    def form(self, step: str, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        fields = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **fields}
        return self.request(step, "POST", path, body=urlencode(fields).encode(), content_type="application/x-www-form-urlencoded")

    def upload(self, step: str, path: str, fields: dict[str, str], name: str, content: bytes) -> tuple[int, str, str]:
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload-file"; filename="{name}"\r\n'
            "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request(step, "POST", path, body=body, content_type=f"multipart/form-data; boundary={boundary}")


def expect(result: UserResult, step: str, got: tuple[int, str, str], status: int, location: str = "") -> str:
    code, where, _content = got
    if code != status or (location and not re.search(location, where)):
        result.errors.append(f"{step}: {code} {where}")
        raise RuntimeError(f"{result.user} {step}: {code} {where}")
    return where


def walk_user(user: str, index: int, files: dict, args: argparse.Namespace, deadline: float, start_gate: threading.Barrier) -> UserResult:
    result = UserResult(user)
    browser = Browser(args.port, args.timeout, result)
    pauses = random.Random(index)  # think times, not secrets

    def think() -> None:
        if args.think > 0:
            time.sleep(args.think * pauses.uniform(0.5, 1.5))

    try:
        start_gate.wait()
        if args.ramp > 0 and args.users > 1:
            time.sleep(args.ramp * index / args.users)
        browser.request("login", "GET", "/accounts/login/")
        think()
        expect(result, "login", browser.form("login", "/accounts/login/", {"username": user, "password": PASSWORD}), 302)
        for run in range(args.runs):
            if time.monotonic() > deadline:
                result.errors.append("deadline reached before all walks")
                break
            think()
            where = expect(result, "start", browser.form("start", "/uploads/timesheet-entries/new/", {}), 302, r"/upload/$")
            upload_id = re.search(r"/([0-9a-f-]{36})/upload/$", where).group(1)
            base = f"/uploads/timesheet-entries/{upload_id}"
            prefix = f"bulkupload_{upload_id}-current_step"
            think()
            got = browser.upload(
                "upload",
                f"{base}/upload/",
                {"csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""), prefix: "upload"},
                f"run{run}.xlsx",
                files[(user, run % 2)],
            )
            expect(result, "upload", got, 302, r"/preview/$")
            expect(result, "preview", browser.request("preview", "GET", f"{base}/preview/"), 200)
            think()
            expect(result, "to_confirm", browser.form("to_confirm", f"{base}/preview/", {prefix: "preview"}), 302, r"/confirm/$")
            think()
            got = browser.form("confirm", f"{base}/confirm/", {prefix: "confirm", "confirm-overwrite": "on"})
            receipt = expect(result, "confirm", got, 302, r"/batches/")
            expect(result, "receipt", browser.request("receipt", "GET", urlsplit(receipt).path), 200)
            result.batches.append(upload_id)
    except Exception as exc:  # counted as an error; the other users go on
        if not result.errors:
            result.errors.append(f"{type(exc).__name__}: {exc}")
    return result


def run_users(users: list[str], files: dict, args: argparse.Namespace) -> list[UserResult]:
    deadline = time.monotonic() + args.deadline
    gate = threading.Barrier(len(users))
    results: list[UserResult | None] = [None] * len(users)

    def run(index: int) -> None:
        results[index] = walk_user(users[index], index, files, args, deadline, gate)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.deadline + args.timeout * 10)
    return [r or UserResult("?", errors=["thread did not finish"]) for r in results]


# --- report ------------------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def print_table(results: list[UserResult], elapsed: float, args: argparse.Namespace) -> None:
    requests = sum(r.requests for r in results)
    errors = sum(len(r.errors) for r in results)
    pace = (
        f"think {args.think:g} s before each step, arriving over {args.ramp:g} s"
        if args.think or args.ramp
        else "no think time, all at once"
    )
    print(f"\n{args.users} users x {args.runs} walks x {args.rows} rows, gunicorn {args.workers} workers, PostgreSQL, loopback; {pace}")
    print(f"{requests} requests in {elapsed:.1f} s = {requests / elapsed:.1f} requests/s; {errors} errors\n")
    print(f"{'step':<12}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'mean ms':>9}")
    for step in STEPS:
        values = [v for r in results for v in r.timings.get(step, [])]
        if not values:
            continue
        row = [percentile(values, 50), percentile(values, 95), percentile(values, 99), max(values), statistics.fmean(values)]
        print(f"{step:<12}{len(values):>9}" + "".join(f"{v * 1000:>9.0f}" for v in row))
    for result in results:
        for error in result.errors[:3]:
            print(f"  error {result.user}: {error}")


def check_database(users: list[str], args: argparse.Namespace) -> list[str]:
    from django.conf import settings

    from bulkupload.models import UploadBatch, UploadRow
    from project.timesheets.models import Entry

    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    print("\nDatabase:")
    batches = UploadBatch.objects.filter(owner__username__in=users)
    check(batches.count() == len(users) * args.runs, f"{len(users) * args.runs} uploads, one per walk (found {batches.count()})")
    not_applied = batches.exclude(status=UploadBatch.Status.APPLIED).count()
    check(not_applied == 0, f"every upload applied, none left behind (orphaned: {not_applied})")
    wrong = [b.pk for b in batches if b.applied_at is None or b.created_count + b.updated_count != args.rows]
    check(not wrong, f"every batch wrote its {args.rows} rows exactly once ({len(wrong)} did not)")
    outcomes = UploadRow.objects.filter(batch__in=batches).exclude(outcome="").count()
    check(outcomes == len(users) * args.runs * args.rows, f"every row has one outcome ({outcomes} of {len(users) * args.runs * args.rows})")
    wrong_users = []
    for index, user in enumerate(users):
        own = list(batches.filter(owner__username=user).order_by("applied_at"))
        counts = [(b.created_count, b.updated_count) for b in own]
        expected = [(args.rows, 0)] + [(0, args.rows)] * (args.runs - 1)
        entries = Entry.objects.filter(tenant__name="Acme", date__in=user_days(index, args.rows))
        revised = entries.filter(note__endswith="(revised)").count()
        as_last_file = revised == (args.rows if (args.runs - 1) % 2 else 0)
        if counts != expected or entries.count() != args.rows or not as_last_file or entries.exclude(upload_batch_id=own[-1].pk).exists():
            wrong_users.append(f"{user} {counts} {entries.count()} entries")
    check(
        not wrong_users,
        f"each user: first walk created {args.rows}, later walks updated them, entries as the last file wrote them {wrong_users[:3]}",
    )
    total = Entry.objects.filter(tenant__name="Acme").count()
    check(total == len(users) * args.rows, f"entries in total: {len(users) * args.rows} (found {total})")
    root = Path(settings.BULKUPLOAD["FILE_ROOT"])
    left = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    check(not left, f"no uploaded files left behind ({len(left)} found)")
    return failures


if __name__ == "__main__":
    sys.exit(main())
