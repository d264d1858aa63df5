"""The seed's failure mode, over the API: state kept between requests vanished. Here every call goes to a freshly
started server process (``manage.py runserver --noreload`` on a file SQLite database), so nothing can survive in
memory between calls, and the whole journey still works. Two confirms racing (PostgreSQL, threads) apply once."""

from __future__ import annotations

import datetime
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from project.timesheets.models import Entry

from .api_support import Api, entries_csv, token_for
from .conftest import on_postgres
from .helpers import csv_file

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """The demo served by its own process, on a file SQLite database and upload folder that outlive it."""

    def __init__(self, folder: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "BULKUPLOAD_FILE_ROOT": str(folder / "uploads"),
            "PYTHONUNBUFFERED": "1",
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--nothreading", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/accounts/login/", timeout=5)
                return
            except requests.ConnectionError:
                assert self.process.poll() is None, "the server process exited"
                time.sleep(0.2)
        raise AssertionError("the server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path)
    process.manage("migrate", "--noinput", "-v0")
    process.manage("seed_demo")
    yield process
    process.stop()


def test_a_server_restart_between_every_call_loses_nothing(server, tmp_path):
    key = server.manage("drf_create_token", "alice").split()[2]
    database = sqlite3.connect(tmp_path / "db.sqlite3")
    acme = "SELECT e.email FROM timesheets_employee e JOIN timesheets_tenant t ON t.id = e.tenant_id WHERE t.name = 'Acme'"
    emails = [email for (email,) in database.execute(acme + " ORDER BY e.id LIMIT 3")]
    people = {"emails": emails, "codes": ["P-001", "P-002"]}
    day = datetime.date.today() - datetime.timedelta(days=7)

    def call(method: str, path: str, **kwargs) -> requests.Response:
        server.restart()  # a new process for every call: no memory of the one before
        return Api(server.url, key).request(method, path, **kwargs)

    upload = call("POST", "specs/timesheet-entries/uploads/", files={"file": ("entries.csv", entries_csv(people, day))}).json()
    assert upload["status"] == "ready"
    assert call("GET", f"uploads/{upload['id']}/").json()["counts"] == {"new": 2, "update": 0, "unchanged": 0, "invalid": 1}
    [bad] = call("GET", f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"]
    row = f"uploads/{upload['id']}/rows/{bad['number']}/"
    fixed = call("PATCH", row, json={"values": {"project_code": "P-002"}, "version": bad["version"]})
    assert fixed.json()["status"] == "new"
    stale = call("PATCH", row, json={"values": {"note": "x"}, "version": bad["version"]})
    assert stale.status_code == 409
    confirmed = call("POST", f"uploads/{upload['id']}/confirm/", json={}).json()
    assert (confirmed["applied"], confirmed["batch"]["counts"]["created"]) == (True, 3)
    again = call("POST", f"uploads/{upload['id']}/confirm/", json={}).json()
    assert (again["applied"], again["batch"]["id"]) == (False, confirmed["batch"]["id"])
    assert call("GET", f"batches/{confirmed['batch']['id']}/").json()["outcomes"]["created"] == 3
    assert database.execute("SELECT COUNT(*) FROM timesheets_entry").fetchone() == (3,)
    rolled = call("POST", f"batches/{confirmed['batch']['id']}/rollback/", json={}).json()
    assert rolled["rolled_back"] is True
    assert call("GET", f"uploads/{upload['id']}/").json()["status"] == "rolled_back"
    assert database.execute("SELECT COUNT(*) FROM timesheets_entry").fetchone() == (0,)
    assert server.starts == 10
    # The API kept nothing in a session: no session row was ever written.
    assert database.execute("SELECT COUNT(*) FROM django_session").fetchone() == (0,)


def test_answers_to_the_uploads_questions_survive_restarts(server, tmp_path):
    key = server.manage("drf_create_token", "alice").split()[2]
    database = sqlite3.connect(tmp_path / "db.sqlite3")
    acme = "SELECT e.email FROM timesheets_employee e JOIN timesheets_tenant t ON t.id = e.tenant_id WHERE t.name = 'Acme'"
    [email] = [email for (email,) in database.execute(acme + " ORDER BY e.id LIMIT 1")]

    def call(method: str, path: str, **kwargs) -> requests.Response:
        server.restart()
        return Api(server.url, key).request(method, path, **kwargs)

    # Both dates read either way (3 October or 10 March); "Entwicklung" is no activity.
    rows = [[email, "03/10/2026", "P-001", 1, "yes", "Entwicklung", ""], [email, "10/03/2026", "P-001", 1, "yes", "Design", ""]]
    upload = call("POST", "specs/timesheet-entries/uploads/", files={"file": ("either.csv", csv_file(rows))}).json()
    assert [q["column"] for q in upload["questions"]["dates"]] == ["date"]
    answer = {"dates": {"date": "mdy"}, "values": {"activity": {"Entwicklung": "Development"}}}
    assert call("POST", f"uploads/{upload['id']}/values/", json=answer).status_code == 200
    shown = call("GET", f"uploads/{upload['id']}/").json()
    assert (shown["questions"]["answered"], shown["questions"]["dates"][0]["order"], shown["counts"]["invalid"]) == (True, "mdy", 0)
    assert call("POST", f"uploads/{upload['id']}/confirm/", json={}).json()["applied"] is True
    entries = database.execute("SELECT date, activity FROM timesheets_entry ORDER BY date").fetchall()
    assert entries == [("2026-03-10", "Development"), ("2026-10-03", "Design")]


@pytest.mark.django_db(transaction=True)
def test_two_racing_confirms_apply_once(live_server, demo, acme, acme_people, workday):
    if not on_postgres():
        pytest.skip("Simultaneous writers need PostgreSQL (SQLite runs one writer at a time).")
    upload = Api(live_server.url, token_for("alice")).upload(entries_csv(acme_people, workday, bad_project=False)).json()
    barrier = threading.Barrier(2, timeout=60)
    answers: list = [None, None]

    def confirm(index: int) -> None:
        try:
            api = Api(live_server.url, token_for("alice"))
            barrier.wait()
            answers[index] = api.post(f"uploads/{upload['id']}/confirm/", json={})
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["applied"] for a in answers) == [False, True]
    assert {a.json()["batch"]["id"] for a in answers} == {upload["id"]}
    assert Entry.objects.filter(tenant=acme).count() == 3


def test_large_files_answer_202_and_a_worker_process_finishes_them(tmp_path):
    """Above TASK_THRESHOLD_ROWS the API answers 202 ``working``; a separate ``db_worker`` process reads and applies."""
    server = ServerProcess(tmp_path)
    server.env.update({"TASKS_BACKEND": "database", "BULKUPLOAD_TASK_THRESHOLD_ROWS": "2"})
    server.manage("migrate", "--noinput", "-v0")
    server.manage("seed_demo")
    key = server.manage("drf_create_token", "alice").split()[2]
    people = {"emails": [f"{name}.lovelace@acme.example" for name in ("ada", "ben", "cleo")], "codes": ["P-001", "P-002"]}
    day = datetime.date.today() - datetime.timedelta(days=7)
    server.start()
    try:
        api = Api(server.url, key)
        queued = api.upload(entries_csv(people, day, bad_project=False))
        assert queued.status_code == 202, queued.text
        assert queued.json()["status"] == "working"
        assert api.get(f"uploads/{queued.json()['id']}/").json()["status"] == "working"

        server.manage("db_worker", "--batch", "--interval", "0.1", "--no-startup-delay")
        upload = api.get(f"uploads/{queued.json()['id']}/").json()
        assert (upload["status"], upload["counts"]["new"]) == ("ready", 3)

        confirming = api.post(f"uploads/{upload['id']}/confirm/", json={})
        assert (confirming.status_code, confirming.json()["applied"]) == (202, True)
        assert confirming.json()["batch"]["status"] == "working"
        repeat = api.post(f"uploads/{upload['id']}/confirm/", json={})
        assert (repeat.status_code, repeat.json()["applied"]) == (200, False)

        server.manage("db_worker", "--batch", "--interval", "0.1", "--no-startup-delay")
        receipt = api.get(f"batches/{upload['id']}/").json()
        assert (receipt["status"], receipt["counts"]["created"]) == ("applied", 3)
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_two_racing_fixes_of_one_version_save_one(live_server, demo, acme_people, workday):
    if not on_postgres():
        pytest.skip("Simultaneous writers need PostgreSQL (SQLite runs one writer at a time).")
    api = Api(live_server.url, token_for("alice"))
    upload = api.upload(entries_csv(acme_people, workday)).json()
    row = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    barrier = threading.Barrier(2, timeout=60)
    answers: list = [None, None]

    def fix(index: int) -> None:
        try:
            client = Api(live_server.url, api.token)
            barrier.wait()
            body = {"values": {"note": f"fix {index}"}, "version": row["version"]}
            answers[index] = client.patch(f"uploads/{upload['id']}/rows/{row['number']}/", json=body)
        finally:
            connection.close()

    threads = [threading.Thread(target=fix, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert winner["version"] == row["version"] + 1
    assert (
        api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]["values"]["note"]
        == winner["values"]["note"]
    )
