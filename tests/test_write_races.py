"""Writes that race each other: a fix against a confirm, a rollback against a confirm, a tenant move before a queued apply.

On PostgreSQL the races run for real, in threads with their own connections; a
trigger holds one side at a chosen statement (an advisory lock the test owns)
until the other side is seen waiting for a row lock, so the interleaving is
the same on every run. Every test ends with the same check: every written entry
is inside exactly one applied batch, and every receipt says what is true.
"""

from __future__ import annotations

import copy
import datetime
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from bulkupload import background, compat, services
from bulkupload.exceptions import BatchNotReady
from bulkupload.models import UploadBatch, UploadRow
from bulkupload.spec import get_spec
from project.timesheets.models import Entry, Membership

from .conftest import login, on_postgres
from .helpers import SPEC, Wizard, xlsx_file

GATE = 7_300_043


def entry_rows(people, day: datetime.date, count: int, *, hours: str = "1") -> list[list]:
    """``count`` rows with distinct keys: three people, two projects, as many days back as needed."""
    e, p = people["emails"], people["codes"]
    return [[e[i % 3], day - datetime.timedelta(days=i // 6), p[(i // 3) % 2], hours, "no", "Admin", f"row {i}"] for i in range(count)]


def at_confirm(client: Client, rows: list[list]) -> Wizard:
    wizard = Wizard(client).start()
    assert wizard.upload(xlsx_file(rows))["Location"].endswith("/preview/")
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    return wizard


def same_session(wizard: Wizard) -> Wizard:
    """Another tab of the same browser session, for a request in another thread."""
    tab = Wizard(Client(), upload_id=wizard.upload_id)
    tab.client.cookies = copy.deepcopy(wizard.client.cookies)
    return tab


def assert_every_write_is_in_one_batch_and_receipts_are_true() -> None:
    """Each entry was last written by an applied batch whose receipt lists it; each receipt's counts match its rows and records."""
    for batch in UploadBatch.objects.filter(status=UploadBatch.Status.APPLIED):
        rows = UploadRow.objects.filter(batch=batch)
        created = list(rows.filter(outcome=UploadRow.Outcome.CREATED).values_list("target_pk", flat=True))
        updated = list(rows.filter(outcome=UploadRow.Outcome.UPDATED).values_list("target_pk", flat=True))
        assert (len(created), len(updated)) == (batch.created_count, batch.updated_count), batch
        assert Entry.objects.filter(pk__in=[int(pk) for pk in created + updated]).count() == len(created) + len(updated), (
            f"the receipt of {batch.pk} names entries that do not exist"
        )
    for pk, batch_id in Entry.objects.values_list("pk", "upload_batch_id"):
        assert batch_id is not None, f"entry {pk} belongs to no batch"
        batch = UploadBatch.objects.get(pk=batch_id)
        assert batch.status == UploadBatch.Status.APPLIED, f"entry {pk} belongs to a {batch.status} batch"
        assert batch.rows.filter(target_pk=str(pk), outcome__in=[UploadRow.Outcome.CREATED, UploadRow.Outcome.UPDATED]).exists()


# --- PostgreSQL: real threads, a deterministic interleaving -------------------------------


@contextmanager
def gate(event: str) -> Iterator[None]:
    """Hold every ``event`` (INSERT, DELETE) on the entries table at its first statement until the block ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION bulkupload_race_gate() RETURNS trigger AS $$ BEGIN "
            f"PERFORM pg_advisory_lock({GATE}); PERFORM pg_advisory_unlock({GATE}); RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER bulkupload_race_gate BEFORE {event} ON timesheets_entry FOR EACH STATEMENT "
            "EXECUTE FUNCTION bulkupload_race_gate()"
        )
        cursor.execute("SELECT pg_advisory_lock(%s)", [GATE])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [GATE])


def drop_gate() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS bulkupload_race_gate ON timesheets_entry")
        cursor.execute("DROP FUNCTION IF EXISTS bulkupload_race_gate()")


def waiting(*, at_gate: bool) -> int:
    """Sessions of this database waiting for a lock: at the test's gate, or for a row (or transaction) lock."""
    op = "=" if at_gate else "<>"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "  # noqa: S608 - op is = or <>
            f"AND wait_event_type = 'Lock' AND wait_event {op} 'advisory'"
        )
        return cursor.fetchone()[0]


def wait_until(condition: Callable[[], bool], *threads: threading.Thread) -> None:
    """Poll ``condition``; give up (failing) after a minute, or as soon as every thread ended without it."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the expected interleaving never happened"
        if threads and not any(thread.is_alive() for thread in threads):
            return
        time.sleep(0.02)


class Worker(threading.Thread):
    """A request or service call in a thread of its own, with its own connection; keeps its result or exception."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__()
        self.work, self.result, self.error = work, None, None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()

    def outcome(self) -> object:
        self.join(120)
        assert not self.is_alive(), "the thread never finished"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def postgres_only(transactional_db):
    if not on_postgres():
        pytest.skip("Concurrent writers with row locks need PostgreSQL; SQLite runs one writer at a time.")
    yield
    drop_gate()


@pytest.fixture
def carol(acme):
    user = get_user_model().objects.create_user("carol", password="x")
    Membership.objects.create(user=user, tenant=acme)
    return login("carol")


def fix_payload(row: UploadRow, cells: dict[str, str]) -> dict[str, str]:
    data = {"fix-TOTAL_FORMS": "1", "fix-INITIAL_FORMS": "0", "fix-MIN_NUM_FORMS": "0", "fix-MAX_NUM_FORMS": "500"}
    data["fix-0-row"] = str(row.pk)
    data.update({f"fix-0-{key}": value for key, value in cells.items()})
    return data


@pytest.mark.postgres
def test_a_fix_posted_while_a_confirm_runs_is_refused_and_the_upload_stays_applied(postgres_only, demo, acme, acme_people, workday):
    rows = entry_rows(acme_people, workday, 12)
    bad = ["nobody@acme.example", workday, acme_people["codes"][0], "2", "no", "Admin", "fix me"]
    wizard = at_confirm(login("alice"), [*rows, bad])
    invalid = UploadRow.objects.get(batch_id=wizard.upload_id, status=UploadRow.Status.INVALID)
    cells = {**invalid.values, "employee_email": acme_people["emails"][0], "date": (workday - datetime.timedelta(days=30)).isoformat()}
    fix_url = reverse("bulkupload:fix", kwargs={"spec": SPEC, "upload_id": wizard.upload_id})

    with gate("INSERT"):
        confirming = Worker(lambda: same_session(wizard).confirm(skip_invalid=True))
        confirming.start()
        wait_until(lambda: waiting(at_gate=True) >= 1, confirming)  # the confirm claimed the upload and is writing
        fixing = Worker(lambda: same_session(wizard).client.post(fix_url, fix_payload(invalid, cells)))
        fixing.start()
        wait_until(lambda: waiting(at_gate=False) >= 1, fixing)  # the fix waits for the confirm's lock
    confirmed, fixed = confirming.outcome(), fixing.outcome()

    batch = wizard.batch()
    assert confirmed["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
    assert fixed["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})  # refused: already applied
    assert (batch.status, batch.created_count, batch.skipped_count) == (UploadBatch.Status.APPLIED, 12, 1)
    assert batch.applied_at is not None
    assert Entry.objects.filter(tenant=acme, upload_batch=batch).count() == Entry.objects.count() == 12
    assert UploadRow.objects.get(pk=invalid.pk).values["employee_email"] == "nobody@acme.example"  # the fix was not saved
    assert_every_write_is_in_one_batch_and_receipts_are_true()
    # Confirming or rolling back later sees the truth.
    assert services.rollback_batch(batch_id=batch.pk)[1] is True
    assert Entry.objects.count() == 0


@pytest.mark.postgres
def test_a_rollback_racing_a_confirm_of_updates_leaves_true_receipts(postgres_only, demo, acme, acme_people, workday, carol):
    count = 40
    alice = login("alice")
    first = Wizard(alice).start()
    first.run(xlsx_file(entry_rows(acme_people, workday, count)))
    assert first.batch().created_count == count
    second = at_confirm(carol, entry_rows(acme_people, workday, count, hours="2"))
    assert second.batch().update_count == count  # previewed as updates of the first upload's entries
    rollback_url = reverse("bulkupload:rollback", kwargs={"batch_id": first.upload_id})

    with gate("DELETE"):
        rolling_back = Worker(lambda: alice.post(rollback_url))
        rolling_back.start()
        wait_until(lambda: waiting(at_gate=True) >= 1, rolling_back)  # the rollback holds the entries and is deleting
        confirming = Worker(lambda: same_session(second).confirm())
        confirming.start()
        wait_until(lambda: waiting(at_gate=False) >= 1, confirming)  # the confirm waits for the entries' row locks
    rolling_back.outcome()
    confirming.outcome()

    assert first.batch().status == UploadBatch.Status.ROLLED_BACK
    batch = second.batch()
    assert batch.status == UploadBatch.Status.APPLIED
    # The entries it was to update were gone when it got them: it created them, and says so.
    assert (batch.created_count, batch.updated_count) == (count, 0)
    assert Entry.objects.filter(tenant=acme, upload_batch=batch, hours=Decimal(2)).count() == Entry.objects.count() == count
    assert_every_write_is_in_one_batch_and_receipts_are_true()


@pytest.mark.postgres
def test_a_confirm_racing_a_rollback_it_started_before_makes_the_rollback_name_the_rows(
    postgres_only, demo, acme, acme_people, workday, carol
):
    """The other order: the confirm holds the entries first; the rollback then finds them changed and refuses."""
    count = 12
    alice = login("alice")
    first = Wizard(alice).start()
    first.run(xlsx_file(entry_rows(acme_people, workday, count)))
    second = at_confirm(carol, entry_rows(acme_people, workday, count, hours="2")[:6] + entry_rows(acme_people, workday, 18)[12:])

    with gate("INSERT"):
        confirming = Worker(lambda: same_session(second).confirm())
        confirming.start()
        wait_until(lambda: waiting(at_gate=True) >= 1, confirming)  # updates are locked in, the new rows wait to be inserted
        rolling_back = Worker(lambda: alice.post(reverse("bulkupload:rollback", kwargs={"batch_id": first.upload_id})))
        rolling_back.start()
        wait_until(lambda: waiting(at_gate=False) >= 1, rolling_back)
    confirming.outcome()
    refused = rolling_back.outcome()

    assert refused.status_code == 200 and "were changed after this upload" in refused.content.decode()
    assert first.batch().status == UploadBatch.Status.APPLIED
    assert (second.batch().created_count, second.batch().updated_count) == (6, 6)
    assert Entry.objects.count() == count + 6
    assert_every_write_is_in_one_batch_and_receipts_are_true()


# --- the stored scope ------------------------------------------------------------------

THRESHOLD = 5
DUMMY = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}


def queued_confirm(settings, rows: list[list]) -> Wizard:
    """Alice's upload, read in the request, confirmed onto a queue no worker has taken it from yet."""
    wizard = at_confirm(login("alice"), rows)
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": THRESHOLD}
    settings.TASKS = DUMMY
    assert wizard.confirm()["Location"] == reverse("bulkupload:progress", kwargs={"batch_id": wizard.upload_id})
    assert wizard.batch().status == UploadBatch.Status.APPLYING
    return wizard


@pytest.mark.django_db
def test_a_user_moved_to_another_tenant_before_a_queued_apply_writes_nothing_anywhere(settings, acme, globex, acme_people, workday):
    wizard = queued_confirm(settings, entry_rows(acme_people, workday, 12))
    Membership.objects.filter(user__username="alice").update(tenant=globex)

    assert background.run_apply(wizard.upload_id) == "refused"

    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.READY
    assert "no longer belongs" in batch.task_error
    assert Entry.objects.count() == 0
    assert_every_write_is_in_one_batch_and_receipts_are_true()


@pytest.mark.postgres
def test_a_tenant_move_committed_while_a_worker_picks_up_the_apply_writes_nothing(
    postgres_only, settings, acme, globex, acme_people, workday
):
    """The move and the worker in two threads with their own connections: the worker reads the committed move."""
    wizard = queued_confirm(settings, entry_rows(acme_people, workday, 12))
    moving = Worker(lambda: Membership.objects.filter(user__username="alice").update(tenant=globex))
    moving.start()
    moving.outcome()
    worker = Worker(lambda: background.run_apply(wizard.upload_id))
    worker.start()
    assert worker.outcome() == "refused"
    assert Entry.objects.filter(tenant=globex).count() == Entry.objects.count() == 0
    assert wizard.batch().status == UploadBatch.Status.READY
    assert_every_write_is_in_one_batch_and_receipts_are_true()


@pytest.mark.django_db
def test_rolling_back_after_the_owner_left_the_tenant_is_refused_with_the_reason(alice, globex, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file(entry_rows(acme_people, workday, 3)))
    Membership.objects.filter(user__username="alice").update(tenant=globex)
    with pytest.raises(Exception, match="no longer belongs"):
        services.rollback_batch(batch_id=wizard.upload_id)
    assert wizard.batch().status == UploadBatch.Status.APPLIED
    assert Entry.objects.count() == 3


# --- on either database: stale objects, row counts ----------------------------------------


@pytest.mark.django_db
def test_a_fix_from_a_page_loaded_before_the_confirm_is_refused_and_never_unapplies(alice, acme_people, workday):
    bad = ["nobody@acme.example", workday, acme_people["codes"][0], "2", "no", "Admin", ""]
    wizard = at_confirm(alice, [*entry_rows(acme_people, workday, 3), bad])
    stale = wizard.batch()  # what the preview page's request saw: ready
    invalid = UploadRow.objects.get(batch_id=wizard.upload_id, status=UploadRow.Status.INVALID)
    assert wizard.confirm(skip_invalid=True).status_code == 302

    with pytest.raises(BatchNotReady, match="already been applied"):
        services.save_fixes(batch=stale, edits={invalid.pk: {**invalid.values, "employee_email": acme_people["emails"][0]}})

    batch = wizard.batch()
    assert (batch.status, batch.created_count) == (UploadBatch.Status.APPLIED, 3)
    assert batch.applied_at is not None
    assert_every_write_is_in_one_batch_and_receipts_are_true()


@pytest.mark.django_db
def test_validating_a_batch_that_was_applied_meanwhile_changes_nothing(alice, acme_people, workday):
    wizard = at_confirm(alice, entry_rows(acme_people, workday, 3))
    stale = wizard.batch()
    wizard.confirm()
    with pytest.raises(BatchNotReady):
        services.validate_batch(batch=stale)
    assert wizard.batch().status == UploadBatch.Status.APPLIED


@pytest.mark.django_db
def test_an_update_of_a_deleted_record_is_not_counted():
    from bulkupload.bulk import update_rows

    alice = get_user_model().objects.get(username="alice")
    batch = services.create_batch(spec=get_spec(SPEC), user=alice)
    gone = UploadRow.objects.create(batch=batch, row_number=1, values={})
    kept = UploadRow.objects.create(batch=batch, row_number=2, values={})
    UploadRow.objects.filter(pk=gone.pk).delete()
    gone.values = kept.values = {"note": "x"}
    assert update_rows(UploadRow, [gone, kept], ["values"]) == 1


@pytest.mark.django_db
def test_staging_after_the_owner_left_the_tenant_is_refused(alice, globex, acme_people, workday):
    wizard = Wizard(alice).start()
    batch = wizard.batch()
    Membership.objects.filter(user__username="alice").update(tenant=globex)
    upload = io.BytesIO(xlsx_file(entry_rows(acme_people, workday, 2)))
    with pytest.raises(BatchNotReady, match="no longer belongs"):
        services.stage_upload(batch=batch, upload=upload, name="entries.xlsx")
    assert UploadRow.objects.filter(batch=batch).count() == 0
