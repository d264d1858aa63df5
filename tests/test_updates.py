"""Uploading rows that already exist: updates with old → new values, overwrite or not, unchanged rows untouched."""

import datetime
from decimal import Decimal

import pytest

from bulkupload.models import UploadRow
from project.timesheets.models import Employee, Entry, Project

from .helpers import Wizard, xlsx_file


@pytest.fixture
def rows(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [
        [e[0], workday, p[0], 7.5, "yes", "Development", "first"],
        [e[1], workday, p[1], 4, "no", "Meeting", ""],
        [e[2], workday, p[0], 8, "yes", "Support", "hotline"],
    ]


@pytest.fixture
def applied(alice, rows):
    """The three rows, uploaded and applied once."""
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file(rows))
    return wizard.batch()


def test_reupload_with_changed_hours_shows_updates_with_old_and_new_values(alice, applied, rows):
    rows[0][3] = 6
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    batch = wizard.batch()
    assert (batch.new_count, batch.update_count, batch.unchanged_count, batch.invalid_count) == (0, 1, 2, 0)
    update = UploadRow.objects.get(batch=batch, status="update")
    assert update.row_number == 2
    assert update.changes == {"hours": "7.5"}
    page = wizard.preview(status="update").content.decode()
    assert "<del>7.5</del> → <ins>6</ins>" in page


def test_confirm_with_overwrite_updates_and_leaves_unchanged_rows_unwritten(alice, acme, applied, rows):
    rows[0][3] = 6
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file(rows), overwrite=True)
    second = wizard.batch()
    assert (second.created_count, second.updated_count) == (0, 1)
    changed = Entry.objects.get(tenant=acme, note="first")
    assert changed.hours == Decimal("6.00")
    assert changed.upload_batch_id == second.pk
    # Unchanged rows are not written: they still carry the first batch.
    untouched = Entry.objects.filter(tenant=acme).exclude(pk=changed.pk)
    assert {e.upload_batch_id for e in untouched} == {applied.pk}
    outcomes = dict(UploadRow.objects.filter(batch=second).values_list("row_number", "outcome"))
    assert outcomes == {2: "updated", 3: "unchanged", 4: "unchanged"}


def test_confirm_without_overwrite_keeps_existing_entries(alice, acme, applied, rows):
    rows[0][3] = 6
    rows.append([rows[0][0], rows[0][1] - datetime.timedelta(days=1), rows[0][2], 2, "no", "Admin", "new one"])
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file(rows), overwrite=False)
    batch = wizard.batch()
    assert Entry.objects.get(tenant=acme, note="first").hours == Decimal("7.50")
    assert Entry.objects.filter(tenant=acme).count() == 4
    assert (batch.created_count, batch.updated_count, batch.skipped_count) == (1, 0, 1)
    assert UploadRow.objects.get(batch=batch, row_number=2).outcome == "kept"


def test_identical_reupload_is_all_unchanged_and_writes_nothing(alice, acme, applied, rows):
    before = list(Entry.objects.filter(tenant=acme).order_by("pk").values())
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file(rows))
    batch = wizard.batch()
    assert (batch.unchanged_count, batch.created_count, batch.updated_count) == (3, 0, 0)
    assert list(Entry.objects.filter(tenant=acme).order_by("pk").values()) == before


def test_a_record_created_after_the_preview_becomes_an_update_not_a_duplicate_once_the_user_says_so(alice, acme, rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows[:1]))
    assert wizard.batch().new_count == 1
    # Someone saves the same entry by hand while the user looks at the preview.
    Entry.objects.create(
        tenant=acme,
        employee=Employee.objects.get(tenant=acme, email=rows[0][0]),
        project=Project.objects.get(tenant=acme, code=rows[0][2]),
        date=rows[0][1],
        hours=1,
        activity="Admin",
    )
    wizard.to_confirm()
    # The preview showed a new entry: overwriting the one saved meanwhile needs the user's say.
    response = wizard.confirm()
    assert response.status_code == 200 and response.context["changed"].count == 1
    assert Entry.objects.get(tenant=acme).hours == Decimal("1.00")
    response = wizard.post_step("confirm", {"confirm-overwrite": "on", "confirm-on_changed": "overwrite"})
    assert response.status_code == 302
    entry = Entry.objects.get(tenant=acme)
    assert entry.hours == Decimal("7.50")
    assert wizard.batch().updated_count == 1
    assert UploadRow.objects.get(batch_id=wizard.upload_id).previous["hours"] == "1.00"
