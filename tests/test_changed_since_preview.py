"""A record someone changed between the preview and the confirm is never overwritten without the user's say.

Over real requests: the preview shows old → new; the record is changed by hand;
the confirm stops and shows old at preview → now → the file's value; the user
overwrites, keeps, or goes back, and each does what it says.
"""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from bulkupload import background, compat
from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .helpers import Wizard, xlsx_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(acme_people, workday) -> list[list]:
    e, p = acme_people["emails"], acme_people["codes"]
    return [
        [e[0], workday, p[0], 7.5, "yes", "Development", "first"],
        [e[1], workday, p[1], 4, "no", "Meeting", "second"],
        [e[2], workday, p[0], 8, "yes", "Support", "third"],
    ]


@pytest.fixture
def at_confirm(alice, rows) -> Wizard:
    """Three entries exist; a second upload changes their hours to 6 and waits at the confirm step."""
    Wizard(alice).start().run(xlsx_file(rows))
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[*row[:3], 6, *row[4:]] for row in rows]))
    page = wizard.preview().content.decode()
    assert wizard.batch().update_count == 3 and "7.5" in page  # the preview shows the old hours
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    return wizard


def entry(rows: list[list], index: int) -> Entry:
    return Entry.objects.get(employee__email=rows[index][0], project__code=rows[index][2], date=rows[index][1])


def changed_by_hand(rows: list[list], index: int, hours: str) -> None:
    Entry.objects.filter(pk=entry(rows, index).pk).update(hours=Decimal(hours))


def cells_of(page: str) -> list[list[str]]:
    """The changed-entries table, row by row, as text."""
    table = page.split('id="changed-title"', 1)[1].split("</table>", 1)[0]
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r'<tr class="changed-cell">(.*?)</tr>', table, re.S)
    ]


def test_the_confirm_stops_and_shows_old_at_preview_now_and_the_file(at_confirm, rows):
    changed_by_hand(rows, 1, "3")

    response = at_confirm.confirm()

    assert response.status_code == 200
    page = response.content.decode()
    assert "1 entry was changed by someone else after the preview" in page
    assert cells_of(page) == [["3", "Hours", "4", "3", "6"]]  # file row 3: 4 at preview → 3 now → 6 in the file
    assert at_confirm.batch().status == UploadBatch.Status.READY
    assert [entry(rows, i).hours for i in range(3)] == [Decimal("7.5"), Decimal(3), Decimal(8)]  # nothing written


def test_overwrite_writes_the_files_values_over_the_change(at_confirm, rows):
    changed_by_hand(rows, 1, "3")
    assert at_confirm.confirm().status_code == 200

    response = at_confirm.post_step("confirm", {"confirm-overwrite": "on", "confirm-on_changed": "overwrite"})

    assert response["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": at_confirm.upload_id})
    assert [entry(rows, i).hours for i in range(3)] == [Decimal(6)] * 3
    batch = at_confirm.batch()
    assert (batch.updated_count, batch.skipped_count) == (3, 0)
    # Rolling back restores what was there when it was overwritten: the hand-made 3.
    assert UploadRow.objects.get(batch=batch, row_number=3).previous["hours"] == "3.00"


def test_keep_leaves_the_change_and_writes_the_rest(at_confirm, rows):
    changed_by_hand(rows, 1, "3")
    assert at_confirm.confirm().status_code == 200

    response = at_confirm.post_step("confirm", {"confirm-overwrite": "on", "confirm-on_changed": "skip"})

    assert response.status_code == 302
    assert [entry(rows, i).hours for i in range(3)] == [Decimal(6), Decimal(3), Decimal(6)]
    batch = at_confirm.batch()
    assert (batch.updated_count, batch.skipped_count) == (2, 1)
    assert UploadRow.objects.get(batch=batch, row_number=3).outcome == UploadRow.Outcome.KEPT


def test_back_returns_to_the_preview_with_nothing_written(at_confirm, rows):
    changed_by_hand(rows, 1, "3")
    assert at_confirm.confirm().status_code == 200

    response = at_confirm.post_step("confirm", {"wizard_goto_step": "preview"})

    assert response["Location"].endswith("/preview/")
    assert at_confirm.batch().status == UploadBatch.Status.READY
    assert entry(rows, 1).hours == Decimal(3)


def test_an_entry_the_preview_showed_as_unchanged_is_guarded_too(alice, rows):
    Wizard(alice).start().run(xlsx_file(rows))
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    assert wizard.batch().unchanged_count == 3
    wizard.to_confirm()
    Entry.objects.filter(pk=entry(rows, 2).pk).update(note="changed by hand")

    response = wizard.confirm()

    assert response.status_code == 200
    assert cells_of(response.content.decode()) == [["4", "Note", "third", "changed by hand", "third"]]
    assert entry(rows, 2).note == "changed by hand"


def test_an_unrelated_change_to_the_same_entry_does_not_stop_the_confirm(at_confirm, rows):
    """Only a difference from what the preview showed counts: the file's own values, written again, are not news."""
    Entry.objects.filter(pk=entry(rows, 0).pk).update(hours=Decimal(6))  # someone typed the file's value already

    response = at_confirm.confirm()

    assert response.status_code == 302
    assert at_confirm.batch().updated_count == 2


def test_a_large_upload_refused_by_its_worker_offers_the_choice_on_the_confirm_page(at_confirm, rows, settings):
    """The worker finds the change (reading every entry in the request would cost as much as applying)."""
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1}
    changed_by_hand(rows, 2, "2")

    response = at_confirm.confirm()  # the immediate backend runs the task at once

    assert response["Location"].endswith("/confirm/")
    page = at_confirm.client.get(response["Location"]).content.decode()
    assert "1 entry was changed by someone else after the preview" in page  # the task's message
    assert "1 entry turned out to have been changed after you saw it" in page and 'value="skip"' in page
    assert (at_confirm.batch().status, at_confirm.batch().changed_count) == (UploadBatch.Status.READY, 1)
    assert entry(rows, 2).hours == Decimal(2)

    at_confirm.post_step("confirm", {"confirm-overwrite": "on", "confirm-on_changed": "skip"})

    batch = at_confirm.batch()
    assert batch.task_id  # through the task
    assert (batch.status, batch.updated_count, batch.skipped_count, batch.changed_count) == (UploadBatch.Status.APPLIED, 2, 1, 0)
    assert entry(rows, 2).hours == Decimal(2)


def test_a_queued_apply_refuses_when_an_entry_changed_after_it_was_queued(at_confirm, rows, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1}
    settings.TASKS = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}
    assert at_confirm.confirm()["Location"] == reverse("bulkupload:progress", kwargs={"batch_id": at_confirm.upload_id})
    changed_by_hand(rows, 0, "1")

    assert background.run_apply(at_confirm.upload_id) == "refused"

    batch = at_confirm.batch()
    assert batch.status == UploadBatch.Status.READY
    assert "changed by someone else after the preview" in batch.task_error and batch.changed_count == 1
    assert entry(rows, 0).hours == Decimal(1)
    status = at_confirm.client.get(reverse("bulkupload:progress", kwargs={"batch_id": batch.pk}), {"format": "json"}).json()
    assert status["state"] == "failed" and "changed by someone else" in status["message"]


def test_the_service_names_the_changed_entries_and_the_command_takes_a_choice(alice, rows, tmp_path: Path, workday):
    """What the command and a worker call refuses with (count and cells), the explicit choice, and the command's flag."""
    from bulkupload import services
    from bulkupload.exceptions import ChangedSincePreview

    Wizard(alice).start().run(xlsx_file(rows))
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[*row[:3], 6, *row[4:]] for row in rows]))
    changed_by_hand(rows, 0, "1")
    with pytest.raises(ChangedSincePreview) as refused:
        services.apply_batch(batch_id=wizard.upload_id)
    assert refused.value.count == 1 and refused.value.rows[0]["cells"][0]["now"] == "1"
    assert services.apply_batch(batch_id=wizard.upload_id, on_changed=UploadBatch.OnChanged.OVERWRITE)[1] is True

    path = tmp_path / "more.xlsx"
    path.write_bytes(xlsx_file([[rows[0][0], workday - datetime.timedelta(days=1), rows[0][2], 2, "no", "Admin", ""]]))
    out, err = io.StringIO(), io.StringIO()
    call_command("bulkupload", "import", "timesheet-entries", str(path), "--user", "alice", "--on-changed", "skip", stdout=out, stderr=err)
    assert "1 created" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("bulkupload", "import", "timesheet-entries", str(path), "--user", "alice", "--on-changed", "bogus")
