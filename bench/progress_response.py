"""Progress: how soon a large upload's request answers, and how fast the progress page answers during the work.

    .venv/bin/python bench/progress_response.py [--rows 20000] [--runs 3]

Runs ``manage.py runserver`` (as ``make run`` does) on a throwaway SQLite file in WAL mode under var/bench/,
seeded with the demo, once with ``BULKUPLOAD_TASKS_ON_THREAD=1`` (the embedded default of ``make run``) and once
without (the work in the request, as before). For each run a person logs in, uploads a CSV of ``--rows`` rows and
confirms it; the table gives medians over ``--runs`` runs: how long the upload POST and the confirm POST took to
answer, the slowest progress-page answer while the work ran, and the time until the preview / receipt was reached.
Everything runs on loopback.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "progress"
HEADER = ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(env: dict[str, str]) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    wal = "from django.db import connection as c; c.cursor().execute('PRAGMA journal_mode=WAL')"
    subprocess.run([*manage, "shell", "-c", wal], cwd=ROOT, env=env, check=True, capture_output=True)


def csv_rows(count: int, emails: list[str], codes: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    first = datetime.date(2024, 1, 1)
    per_day = len(emails) * len(codes)
    for n in range(count):
        day = first + datetime.timedelta(days=n // per_day)
        writer.writerow([emails[n % len(emails)], day.isoformat(), codes[(n // len(emails)) % len(codes)], 1, "no", "Development", f"r{n}"])
    return out.getvalue().encode()


def people(env: dict[str, str]) -> tuple[list[str], list[str]]:
    code = (
        "from project.timesheets.models import *; t=Tenant.objects.get(name='Acme');"
        "print('|'.join(Employee.objects.filter(tenant=t).values_list('email', flat=True)));"
        "print('|'.join(Project.objects.filter(tenant=t, active=True).values_list('code', flat=True)))"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if "@" in line or "P-" in line]
    return lines[0].split("|"), lines[1].split("|")


def token(session: requests.Session, url: str) -> str:
    page = session.get(url).text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def follow_progress(session: requests.Session, base: str, location: str, goal: str) -> tuple[float, float]:
    """Poll the progress page (its JSON, as the script does) until the work ends: (slowest answer, end time)."""
    slowest = 0.0
    url = base + location
    while "/progress/" in url:
        started = time.perf_counter()
        answer = session.get(url, params={"format": "json"}, timeout=120)
        slowest = max(slowest, time.perf_counter() - started)
        if answer.status_code == 200 and answer.json()["state"] == "done":
            url = base + answer.json()["next"]
        else:
            time.sleep(0.5)
    assert goal in url, url
    return slowest, time.perf_counter()


def one_run(base: str, content: bytes) -> dict[str, float]:
    s = requests.Session()
    s.post(
        base + "/accounts/login/",
        data={"username": "alice", "password": "bulkupload-demo", "csrfmiddlewaretoken": token(s, base + "/accounts/login/")},
    )
    start = s.post(
        base + "/uploads/timesheet-entries/new/", data={"csrfmiddlewaretoken": token(s, base + "/uploads/")}, allow_redirects=False
    )
    upload_url = base + start.headers["Location"]
    prefix = "bulkupload_" + upload_url.rstrip("/").split("/")[-2]
    begun = time.perf_counter()
    posted = s.post(
        upload_url,
        data={"csrfmiddlewaretoken": token(s, upload_url), f"{prefix}-current_step": "upload"},
        files={"upload-file": ("big.csv", content, "text/csv")},
        allow_redirects=False,
    )
    upload_answer = time.perf_counter() - begun
    nxt = s.get(base + posted.headers["Location"], allow_redirects=False)
    location = nxt.headers.get("Location", posted.headers["Location"])
    slow_read, end = follow_progress(s, base, location, "/preview/") if "/progress/" in location else (0.0, time.perf_counter())
    preview_at = end - begun
    confirm_url = upload_url.replace("/upload/", "/confirm/")
    s.post(
        upload_url.replace("/upload/", "/preview/"),
        data={"csrfmiddlewaretoken": token(s, upload_url.replace("/upload/", "/preview/")), f"{prefix}-current_step": "preview"},
    )
    begun = time.perf_counter()
    done = s.post(
        confirm_url,
        data={"csrfmiddlewaretoken": token(s, confirm_url), f"{prefix}-current_step": "confirm", "confirm-overwrite": "on"},
        allow_redirects=False,
    )
    confirm_answer = time.perf_counter() - begun
    location = done.headers["Location"]
    slow_apply, end = follow_progress(s, base, location, "/batches/") if "/progress/" in location else (0.0, time.perf_counter())
    return {
        "upload POST answered (s)": upload_answer,
        "slowest progress answer while reading (s)": slow_read,
        "preview reached (s)": preview_at,
        "confirm POST answered (s)": confirm_answer,
        "slowest progress answer while saving (s)": slow_apply,
        "receipt reached (s)": end - begun,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for mode, flag in (("thread (make run)", "1"), ("in the request", "0")):
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}",
            "BULKUPLOAD_FILE_ROOT": str(WORK / "uploads"),
            "BULKUPLOAD_TASKS_ON_THREAD": flag,
            "DEBUG": "1",
        }
        results[mode] = []
        for _run in range(args.runs):
            prepare(env)
            emails, codes = people(env)
            content = csv_rows(args.rows, emails, codes)
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                for _ in range(100):
                    try:
                        requests.get(base + "/accounts/login/", timeout=1)
                        break
                    except requests.ConnectionError:
                        time.sleep(0.2)
                results[mode].append(one_run(base, content))
            finally:
                server.terminate()
                server.wait(timeout=30)
    names = list(next(iter(results.values()))[0])
    print(f"{args.rows:,} rows, median of {args.runs} runs, SQLite (WAL), runserver")
    print(f"{'':45}" + "".join(f"{mode:>20}" for mode in results))
    for name in names:
        print(f"{name:45}" + "".join(f"{statistics.median(r[name] for r in runs):>20.2f}" for runs in results.values()))


if __name__ == "__main__":
    main()
