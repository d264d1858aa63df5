"""Simultaneous requests against one upload, on PostgreSQL (row locks, concurrent writers):
fifty confirms apply it once, and purge never removes an upload while it is being applied."""

from __future__ import annotations

import copy
import datetime
import threading

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bulkupload import services
from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .conftest import login, on_postgres
from .helpers import Wizard, worker_died, xlsx_file

pytestmark = pytest.mark.django_db(transaction=True)

CONFIRMS = 50


@pytest.fixture(autouse=True)
def needs_postgres(db):
    if not on_postgres():
        pytest.skip("Simultaneous requests need a database with row locking and concurrent writers (PostgreSQL); SQLite runs one writer.")


@pytest.fixture
def twelve_rows(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [[e[i % 3], workday - datetime.timedelta(days=i // 6), p[i % 2], "1", "no", "Admin", f"row {i}"] for i in range(12)]


def at_confirm(rows: list[list]) -> Wizard:
    wizard = Wizard(login("alice")).start()
    assert wizard.upload(xlsx_file(rows))["Location"].endswith("/preview/")
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    return wizard


def in_threads(count: int, work) -> list:
    """Run ``work(index)`` in ``count`` threads released at once; return their results, re-raising any failure."""
    barrier = threading.Barrier(count, timeout=60)
    results: list = [None] * count
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # reported from the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]
    return results


def test_fifty_simultaneous_confirms_apply_the_upload_exactly_once(demo, acme, twelve_rows):
    wizard = at_confirm(twelve_rows)
    session_cookie = wizard.client.cookies
    receipt = reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})

    def confirm(_index: int):
        tab = Wizard(Client(), upload_id=wizard.upload_id)
        tab.client.cookies = copy.deepcopy(session_cookie)  # one user clicking in many tabs of one session
        return tab.confirm().status_code, tab.responses[-1]["Location"]

    results = in_threads(CONFIRMS, confirm)

    assert results == [(302, receipt)] * CONFIRMS
    batch = wizard.batch()
    assert (batch.status, batch.created_count, batch.updated_count) == (UploadBatch.Status.APPLIED, 12, 0)
    assert Entry.objects.filter(tenant=acme).count() == 12
    assert UploadRow.objects.filter(batch=batch, outcome="created").count() == 12


def test_fifty_simultaneous_service_calls_report_one_application(demo, acme, twelve_rows):
    wizard = at_confirm(twelve_rows)
    applied = in_threads(CONFIRMS, lambda _i: services.apply_batch(batch_id=wizard.upload_id)[1])
    assert applied.count(True) == 1
    assert Entry.objects.filter(tenant=acme).count() == 12


GATE = 7_300_042  # an advisory lock id: applying waits on it inside its transaction while the test holds it
GATE_SQL = [
    "CREATE FUNCTION bulkupload_gate() RETURNS trigger AS $$ BEGIN "
    f"PERFORM pg_advisory_lock({GATE}); PERFORM pg_advisory_unlock({GATE}); RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER bulkupload_gate BEFORE INSERT ON timesheets_entry FOR EACH STATEMENT EXECUTE FUNCTION bulkupload_gate()",
]
UNGATE_SQL = ["DROP TRIGGER IF EXISTS bulkupload_gate ON timesheets_entry", "DROP FUNCTION IF EXISTS bulkupload_gate()"]


def locked_by_another(batch_id) -> bool:
    try:
        with transaction.atomic():
            UploadBatch.objects.select_for_update(nowait=True).filter(pk=batch_id).first()
    except DatabaseError:
        return True
    return False


def test_purge_never_removes_an_upload_that_is_being_applied(demo, acme, twelve_rows):
    wizard = at_confirm(twelve_rows)
    UploadBatch.objects.filter(pk=wizard.upload_id).update(updated_at=timezone.now() - datetime.timedelta(days=30))
    with connection.cursor() as cursor:
        for statement in GATE_SQL:
            cursor.execute(statement)
        cursor.execute("SELECT pg_advisory_lock(%s)", [GATE])
    outcome: list = []
    applying = threading.Thread(target=lambda: (outcome.append(services.apply_batch(batch_id=wizard.upload_id)[1]), connection.close()))
    try:
        applying.start()
        while not locked_by_another(wizard.upload_id):  # the apply has claimed the batch and waits at the gate
            assert applying.is_alive(), "applying ended before it reached the gate"

        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")  # a purge that waited for the lock would fail here, not hang
        purged = services.purge_abandoned(older_than=datetime.timedelta(days=1))

        assert purged == []
        assert UploadBatch.objects.filter(pk=wizard.upload_id).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
            cursor.execute("SELECT pg_advisory_unlock(%s)", [GATE])
        applying.join(60)
        with connection.cursor() as cursor:
            for statement in UNGATE_SQL:
                cursor.execute(statement)
    assert outcome == [True]
    assert wizard.batch().status == UploadBatch.Status.APPLIED
    assert Entry.objects.filter(tenant=acme).count() == 12


def test_a_silent_task_that_still_holds_its_batch_is_not_released(twelve_rows):
    """Only a dead task's batch is released: a live one holds the batch's row in its transaction, however quiet it is."""
    wizard = at_confirm(twelve_rows)
    UploadBatch.objects.filter(pk=wizard.upload_id).update(status=UploadBatch.Status.APPLYING)
    worker_died(wizard.upload_id, phase="applying", silent_for=3600)
    progress_json = reverse("bulkupload:progress", kwargs={"batch_id": wizard.upload_id}) + "?format=json"
    holding, finish = threading.Event(), threading.Event()

    def live_task() -> None:
        try:
            with transaction.atomic():
                UploadBatch.objects.select_for_update().get(pk=wizard.upload_id)
                holding.set()
                finish.wait(30)
        finally:
            connection.close()

    task = threading.Thread(target=live_task)
    task.start()
    try:
        assert holding.wait(30)
        assert wizard.client.get(progress_json).json()["state"] == "working"
        wizard.client.post(reverse("bulkupload:progress", kwargs={"batch_id": wizard.upload_id}))  # "try again" too soon
        assert wizard.batch().status == UploadBatch.Status.APPLYING
    finally:
        finish.set()
        task.join(30)

    # Its transaction gone (the worker died), the silence counts: shown stopped, released by "try again" (a POST).
    assert wizard.client.get(progress_json).json()["state"] == "failed"
    assert wizard.batch().status == UploadBatch.Status.APPLYING
    wizard.client.post(reverse("bulkupload:progress", kwargs={"batch_id": wizard.upload_id}))
    assert wizard.batch().status == UploadBatch.Status.READY
