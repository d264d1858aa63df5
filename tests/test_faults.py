"""Faults underneath the user: a database error while applying, a file failing part-way, sessions expiring,
flushed or overwritten, the server restarting between steps, and abandoned uploads purged. Nothing is lost."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bulkupload import services
from bulkupload.exceptions import FileRejected
from bulkupload.models import UploadBatch, UploadRow, private_storage
from project.timesheets.models import Entry

from .conftest import login
from .helpers import Wizard, csv_file, xlsx_file


@pytest.fixture
def five_rows(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [[e[i % 3], workday - datetime.timedelta(days=i // 3), p[i % 2], "2", "yes", "Development", f"row {i}"] for i in range(5)]


def at_confirm(client: Client, rows: list[list]) -> Wizard:
    wizard = Wizard(client).start()
    response = wizard.upload(xlsx_file(rows))
    assert response["Location"].endswith("/preview/"), response
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    return wizard


# --- a database error part-way through applying -----------------------------------------------------

TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER bulkupload_injected_fault BEFORE INSERT ON timesheets_entry WHEN NEW.note = 'row 4' "
        "BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION bulkupload_injected_fault() RETURNS trigger AS $$ BEGIN "
        "IF NEW.note = 'row 4' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER bulkupload_injected_fault BEFORE INSERT ON timesheets_entry "
        "FOR EACH ROW EXECUTE FUNCTION bulkupload_injected_fault()",
    ],
}
DROP = {
    "sqlite": ["DROP TRIGGER bulkupload_injected_fault"],
    "postgresql": ["DROP TRIGGER bulkupload_injected_fault ON timesheets_entry", "DROP FUNCTION bulkupload_injected_fault()"],
}


def run_sql(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def test_a_database_error_while_applying_writes_nothing_and_a_retry_applies_once(alice, acme, five_rows, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "CHUNK_SIZE": 2}  # rows 0-3 are inserted before row 4 fails
    wizard = at_confirm(alice, five_rows)
    run_sql(TRIGGER[connection.vendor])

    response = wizard.confirm()

    assert response["Location"].endswith("/confirm/")
    page = alice.get(response["Location"]).content.decode()
    assert "Nothing was saved: the import failed part-way and was rolled back. Your upload is kept; please try again." in page
    batch = wizard.batch()
    assert (batch.status, batch.created_count, batch.applied_at) == (UploadBatch.Status.READY, 0, None)
    assert Entry.objects.filter(tenant=acme).count() == 0
    assert not UploadRow.objects.filter(batch=batch).exclude(outcome="").exists()
    assert batch.source_file and private_storage().exists(batch.source_file.name)

    run_sql(DROP[connection.vendor])
    assert wizard.confirm()["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
    assert wizard.confirm()["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
    batch.refresh_from_db()
    assert (batch.status, batch.created_count) == (UploadBatch.Status.APPLIED, 5)
    assert Entry.objects.filter(tenant=acme).count() == 5


def test_a_database_error_raised_by_the_service_leaves_the_batch_confirmable(acme, alice, five_rows):
    wizard = at_confirm(alice, five_rows)
    run_sql(TRIGGER[connection.vendor])
    with pytest.raises(DatabaseError), transaction.atomic():
        services.apply_batch(batch_id=wizard.upload_id)
    run_sql(DROP[connection.vendor])
    assert wizard.batch().status == UploadBatch.Status.READY
    assert services.apply_batch(batch_id=wizard.upload_id)[1] is True
    assert services.apply_batch(batch_id=wizard.upload_id)[1] is False
    assert Entry.objects.filter(tenant=acme).count() == 5


# --- a file that fails part-way ----------------------------------------------------------------------


def test_a_file_failing_part_way_leaves_the_earlier_upload_as_it_was(alice, five_rows, settings):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(five_rows[:2]), "first.xlsx")
    before = wizard.batch()
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "CHUNK_SIZE": 2, "MAX_ROWS": 4}  # two chunks are staged before row 6 fails

    response = wizard.upload(csv_file(five_rows), "second.csv")

    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "The file has more than 4 data rows. Split it into smaller files. (file “second.csv”, row 6)"
    ]
    after = wizard.batch()
    assert (after.file_name, after.total_rows, after.sha256, after.source_file.name) == (
        "first.xlsx",
        2,
        before.sha256,
        before.source_file.name,
    )
    assert sorted(UploadRow.objects.filter(batch=after).values_list("row_number", flat=True)) == [2, 3]
    assert private_storage().exists(after.source_file.name)


def test_stage_upload_raises_one_message_naming_file_sheet_row_and_column(alice, five_rows, settings):
    # Longer than every header (they are held to the limit too), shorter than the emails below them.
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "MAX_CELL_LENGTH": 20}
    batch = Wizard(alice).start().batch()
    upload = io.BytesIO(xlsx_file(five_rows))
    with pytest.raises(FileRejected) as caught:
        services.stage_upload(batch=batch, upload=upload, name="long.xlsx")
    assert str(caught.value).endswith("(file “long.xlsx”, sheet “Entries”, row 2, column “Employee email”)")
    assert not UploadRow.objects.filter(batch=batch).exists()


# --- sessions: expired, flushed, overwritten ---------------------------------------------------------


def resumes_to_the_end(client: Client, wizard: Wizard, acme, rows: int) -> None:
    """The upload opens from its URL with its rows, and confirms."""
    wizard.client = client
    page = client.get(wizard.url("preview"))
    assert page.status_code == 200
    assert page.context["batch"].new_count == rows
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    assert wizard.confirm()["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})
    assert Entry.objects.filter(tenant=acme).count() == rows


def test_an_expired_session_costs_a_login_and_nothing_else(alice, acme, five_rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(five_rows))
    Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))

    response = alice.get(wizard.url("preview"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert wizard.url("preview") in response["Location"].replace("%2F", "/")
    resumes_to_the_end(login("alice"), wizard, acme, 5)


def test_a_flushed_session_store_costs_a_login_and_nothing_else(alice, acme, five_rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(five_rows))
    Session.objects.all().delete()  # e.g. `manage.py clearsessions` gone wrong, or a cache-backed store restarted
    assert alice.get(wizard.url("confirm")).status_code == 302
    resumes_to_the_end(login("alice"), wizard, acme, 5)


def test_a_session_overwritten_by_a_concurrent_request_loses_nothing(alice, acme, five_rows):
    stale = dict(SessionStore(session_key=alice.session.session_key).load())  # before this upload existed
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(five_rows))
    assert wizard.preview().status_code == 200
    store = SessionStore(session_key=alice.session.session_key)
    store.clear()
    store.update(stale)  # another tab's request, started earlier, saves its older copy last
    store.save()
    assert f"wizard_{wizard.prefix}" not in SessionStore(session_key=alice.session.session_key).load()
    resumes_to_the_end(alice, wizard, acme, 5)


# --- the server restarting between steps --------------------------------------------------------------


def restarted(client: Client) -> Client:
    """What a restarted server sees of a user: the cookie only. Connections and caches are gone."""
    connections.close_all()
    for cache in caches.all():
        cache.clear()
    fresh = Client()
    fresh.cookies = client.cookies
    return fresh


@pytest.mark.django_db(transaction=True)
def test_a_restart_between_any_two_steps_changes_nothing(demo, acme, five_rows):
    alice = login("alice")
    wizard = Wizard(alice).start()
    wizard.client = restarted(alice)
    assert wizard.upload(xlsx_file(five_rows))["Location"].endswith("/preview/")
    wizard.client = restarted(wizard.client)
    assert wizard.preview().status_code == 200
    wizard.client = restarted(wizard.client)
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    wizard.client = restarted(wizard.client)
    assert wizard.client.get(wizard.url("confirm")).status_code == 200
    wizard.client = restarted(wizard.client)
    assert wizard.confirm()["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})
    wizard.client = restarted(wizard.client)
    assert wizard.client.get(reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})).status_code == 200
    assert Entry.objects.filter(tenant=acme).count() == 5


# --- abandoned uploads --------------------------------------------------------------------------------


def age(batch: UploadBatch, hours: float) -> None:
    UploadBatch.objects.filter(pk=batch.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=hours))


def test_purge_removes_old_uploads_with_their_rows_and_files_and_keeps_the_rest(alice, acme, five_rows, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "PURGE_AFTER_HOURS": 24}
    abandoned = Wizard(alice).start()
    abandoned.upload(xlsx_file(five_rows))
    empty = Wizard(alice).start()
    recent = Wizard(alice).start()
    recent.upload(xlsx_file(five_rows[:1]))
    applied = at_confirm(alice, five_rows[1:3])
    applied.confirm()
    old_file = abandoned.batch().source_file.name
    for wizard in (abandoned, empty, applied):
        age(wizard.batch(), 25)
    age(recent.batch(), 23)

    purged = services.purge_abandoned()

    assert {str(b.pk) for b in purged} == {abandoned.upload_id, empty.upload_id}
    assert set(UploadBatch.objects.values_list("pk", flat=True)) == {recent.batch().pk, applied.batch().pk}
    assert not UploadRow.objects.filter(batch_id=abandoned.upload_id).exists()
    assert Entry.objects.filter(tenant=acme).count() == 2
    assert abandoned.client.get(abandoned.url("preview")).status_code == 404
    assert private_storage().exists(old_file)  # the file goes when the deletion commits: see the next test


@pytest.mark.django_db(transaction=True)
def test_purge_deletes_the_files_once_committed(demo, acme_people, workday, private_file_root):
    alice = login("alice")
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[e[0], workday, p[0], 1, "no", "Admin", ""]]))
    name = wizard.batch().source_file.name
    assert private_storage().exists(name)
    age(wizard.batch(), 1000)
    services.purge_abandoned()
    assert not private_storage().exists(name)
    assert not (private_file_root / wizard.upload_id).exists() or not any((private_file_root / wizard.upload_id).iterdir())
