"""Simultaneous requests on SQLite too: confirming twice applies once, two tabs posting at once both complete.

The PostgreSQL versions (``test_concurrency.py``, ``test_tabs.py``) skip on SQLite, whose test database
lives in memory where connections cannot wait for one another. Here each test gets a FILE database,
opened by every thread through its own connection with the host's settings (``timeout`` and
``transaction_mode: IMMEDIATE``), so ``make test`` sees these guarantees go.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from bulkupload import services
from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .conftest import login
from .helpers import Wizard, xlsx_file
from .test_concurrency import in_threads
from .test_tabs import same_session, tab_files

CONFIRMS = 10


@contextlib.contextmanager
def file_database(path: Path) -> Iterator[None]:
    """Point the default database at the SQLite file ``path``: this thread's connection and every new thread's."""
    original, main = connections.settings["default"], connections["default"]
    connections.settings["default"] = {**original, "NAME": str(path)}
    # The in-memory test database lives only while its connection is open: keep it, aside, for after.
    connections["default"] = connections.create_connection("default")
    try:
        yield
    finally:
        connections["default"].close()
        connections.settings["default"] = original
        connections["default"] = main


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, django_db_blocker) -> Path:
    """An empty, migrated database file, copied for each test (migrating once is the slow part)."""
    if connections.settings["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("SQLite only: on PostgreSQL, test_concurrency.py and test_tabs.py run these with real row locks.")
    path = tmp_path_factory.mktemp("sqlite") / "migrated.sqlite3"
    with django_db_blocker.unblock(), file_database(path):
        call_command("migrate", verbosity=0, interactive=False)
    return path


@pytest.fixture
def file_db(migrated, transactional_db, tmp_path) -> Iterator[Path]:
    path = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated, path)
    with file_database(path):
        assert connection.settings_dict["NAME"] == str(path)
        yield path


@pytest.fixture
def twelve_rows(file_db, demo, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [[e[i % 3], workday - datetime.timedelta(days=i // 6), p[i % 2], "1", "no", "Admin", f"row {i}"] for i in range(12)]


def at_confirm(rows: list[list]) -> Wizard:
    wizard = Wizard(login("alice")).start()
    assert wizard.upload(xlsx_file(rows))["Location"].endswith("/preview/")
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    return wizard


def test_the_tests_run_on_a_file_that_other_connections_see(file_db, demo):
    seen = in_threads(2, lambda _i: (connection.settings_dict["NAME"], UploadBatch.objects.count(), Entry.objects.count()))
    assert seen == [(str(file_db), 0, Entry.objects.count())] * 2


def test_simultaneous_confirms_in_tabs_of_one_session_apply_the_upload_exactly_once(twelve_rows, acme):
    wizard = at_confirm(twelve_rows)
    receipt = reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})

    def confirm(_index: int):
        tab = Wizard(Client(), upload_id=wizard.upload_id)
        tab.client.cookies = copy.deepcopy(wizard.client.cookies)  # one user clicking in many tabs of one session
        return tab.confirm().status_code, tab.responses[-1]["Location"]

    results = in_threads(CONFIRMS, confirm)

    assert results == [(302, receipt)] * CONFIRMS  # every tab lands on the receipt, none on an error
    batch = wizard.batch()
    assert (batch.status, batch.created_count, batch.updated_count) == (UploadBatch.Status.APPLIED, 12, 0)
    assert Entry.objects.filter(tenant=acme).count() == 12
    assert UploadRow.objects.filter(batch=batch, outcome="created").count() == 12


def test_simultaneous_service_calls_report_one_application(twelve_rows, acme):
    wizard = at_confirm(twelve_rows)
    applied = in_threads(CONFIRMS, lambda _i: services.apply_batch(batch_id=wizard.upload_id)[1])
    assert applied.count(True) == 1
    assert Entry.objects.filter(tenant=acme).count() == 12


def test_two_tabs_posting_each_step_at_the_same_moment_both_complete(file_db, demo, acme_people, workday):
    alice = login("alice")
    files = tab_files(acme_people, workday)
    tabs = [Wizard(alice).start(), Wizard(same_session(alice)).start()]

    def step(name: str):
        def run(index: int) -> int:
            tab = tabs[index]
            if name == "upload":
                return tab.upload(files[index], f"tab{index}.xlsx").status_code
            if name == "preview":
                return tab.preview().status_code
            return tab.to_confirm().status_code if name == "to_confirm" else tab.confirm().status_code

        return run

    for name in ("upload", "preview", "to_confirm", "confirm"):
        assert in_threads(2, step(name)) == ([200, 200] if name == "preview" else [302, 302]), name

    a, b = tabs[0].batch(), tabs[1].batch()
    assert (a.status, a.created_count) == ("applied", 2)
    assert (b.status, b.created_count) == ("applied", 1)
    assert UploadRow.objects.filter(batch=a, values__note="tab A").count() == 2
    assert UploadRow.objects.filter(batch=b, values__note="tab B").count() == 1
    assert sorted(Entry.objects.values_list("note", flat=True)) == ["tab A", "tab A", "tab B"]
