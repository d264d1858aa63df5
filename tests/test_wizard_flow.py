"""The core journey: template → filled file → upload → preview → confirm → receipt, as separate requests."""

import datetime
import io

from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse
from openpyxl import load_workbook

from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .helpers import SPEC, Wizard, fill_template, session_row, xlsx_file


def three_rows(people, day):
    e, p = people["emails"], people["codes"]
    return [
        [e[0], day, p[0], 7.5, "yes", "Development", "Sprint work"],
        [e[1], day, p[1], 4, "no", "meeting", ""],
        [e[2], day, p[0], 8, True, "Support", "Hotline"],
    ]


def test_template_to_saved_entries(alice, acme, acme_people, workday):
    template = alice.get(reverse("bulkupload:template", kwargs={"spec": SPEC}))
    assert template.status_code == 200
    filled = fill_template(template.content, three_rows(acme_people, workday))

    wizard = Wizard(alice).start()
    response = wizard.run(filled, "march.xlsx")

    batch = wizard.batch()
    assert response.status_code == 302
    assert response["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
    assert batch.status == UploadBatch.Status.APPLIED
    assert batch.created_count == 3
    entries = Entry.objects.filter(tenant=acme).order_by("employee__email")
    assert entries.count() == 3
    assert {e.upload_batch_id for e in entries} == {batch.pk}
    hours = sorted(str(e.hours) for e in entries)
    assert hours == ["4.00", "7.50", "8.00"]
    receipt = alice.get(response["Location"])
    assert receipt.status_code == 200
    assert b'data-count="created">3<' in receipt.content


def test_preview_shows_every_rows_fate_before_anything_is_written(alice, acme, acme_people, workday):
    rows = three_rows(acme_people, workday)
    rows[2][3] = 30  # invalid hours
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))

    page = wizard.preview()
    assert page.status_code == 200
    assert Entry.objects.count() == 0
    batch = wizard.batch()
    assert (batch.new_count, batch.update_count, batch.unchanged_count, batch.invalid_count) == (2, 0, 0, 1)
    assert "Hours must be at most 24." in page.content.decode()


def test_preview_survives_because_it_was_persisted(alice, acme, acme_people, workday):
    """Regression: 'Please validate first' after the validated rows vanished from the session."""
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(three_rows(acme_people, workday)))
    assert wizard.preview().status_code == 200

    # What survives between requests is what the database holds: the rows with their fate...
    assert UploadRow.objects.filter(batch_id=wizard.upload_id, status="new").count() == 3
    # ...and the wizard's place, saved in the session row itself, not in memory.
    stored = SessionStore(session_key=alice.session.session_key).load()
    assert stored[f"wizard_{wizard.prefix}"]["step"] == "preview"

    # Even with the wizard's session state wiped, the upload resumes from its URL.
    session = SessionStore(session_key=alice.session.session_key)
    del session[f"wizard_{wizard.prefix}"]
    session.save()
    assert wizard.to_confirm()["Location"].endswith("/confirm/")
    response = wizard.confirm()
    assert response["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})
    assert Entry.objects.filter(tenant=acme).count() == 3


def test_confirm_survives_a_session_row_overwritten_by_another_request(alice, acme, acme_people, workday):
    """A session row is rewritten whole, last save wins: a concurrent request can undo our step."""
    wizard = Wizard(alice).start()
    before = session_row(alice).session_data
    wizard.upload(xlsx_file(three_rows(acme_people, workday)))
    row = session_row(alice)
    row.session_data = before  # another tab's save, read before ours, lands after it
    row.save()

    assert wizard.preview().status_code == 200
    wizard.to_confirm()
    response = wizard.confirm()
    assert response.status_code == 302
    assert wizard.batch().status == UploadBatch.Status.APPLIED
    assert Entry.objects.filter(tenant=acme).count() == 3


def test_opening_the_wizard_url_again_resumes_that_upload(alice, acme, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(three_rows(acme_people, workday)))
    again = alice.get(wizard.url("upload"))
    assert again.status_code == 200
    assert "Already uploaded" in again.content.decode()
    assert wizard.batch().total_rows == 3
    preview = wizard.preview()
    assert preview.status_code == 200
    assert wizard.batch().new_count == 3


def test_steps_beyond_upload_redirect_to_upload_until_a_file_is_staged(alice, acme):
    wizard = Wizard(alice).start()
    response = alice.get(wizard.url("confirm"))
    assert response.status_code == 302 and response["Location"].endswith("/upload/")
    response = wizard.post_step("confirm", {"confirm-overwrite": "on"})
    assert Entry.objects.count() == 0
    assert wizard.batch().status == UploadBatch.Status.DRAFT


def test_double_confirm_applies_once_and_shows_the_receipt(alice, acme, acme_people, workday):
    wizard = Wizard(alice).start()
    first = wizard.run(xlsx_file(three_rows(acme_people, workday)))
    second = wizard.confirm()
    assert second.status_code == 302
    assert second["Location"] == first["Location"]
    assert Entry.objects.filter(tenant=acme).count() == 3
    assert UploadBatch.objects.get(pk=wizard.upload_id).created_count == 3
    back = alice.get(wizard.url("preview"))
    assert back.status_code == 302 and back["Location"] == first["Location"]


def test_invalid_rows_block_confirm_until_skipped(alice, acme, acme_people, workday):
    rows = three_rows(acme_people, workday)
    rows[0][0] = "nobody@acme.example"
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    wizard.to_confirm()
    refused = wizard.confirm()
    assert refused.status_code == 200
    assert "1 row is invalid" in refused.content.decode()
    assert Entry.objects.count() == 0
    applied = wizard.confirm(skip_invalid=True)
    assert applied.status_code == 302
    batch = wizard.batch()
    assert (batch.created_count, batch.skipped_count) == (2, 1)
    assert UploadRow.objects.get(batch=batch, row_number=2).outcome == "skipped"


def test_session_stays_small_after_a_large_upload(alice, acme, workday):
    emails = list(acme.employees.values_list("email", flat=True))
    codes = list(acme.projects.filter(active=True).values_list("code", flat=True))
    # 50 employees × 19 projects = 950 unique keys a day; earlier days for the rest.
    rows = [
        [emails[i % 50], workday - datetime.timedelta(days=i // 950), codes[(i // 50) % len(codes)], 0.25, "no", "Admin", f"row {i}"]
        for i in range(10_000)
    ]
    wizard = Wizard(alice).start()
    response = wizard.upload(xlsx_file(rows))
    assert response.status_code == 302, response
    assert wizard.preview().status_code == 200
    assert wizard.batch().new_count == 10_000
    assert len(session_row(alice).session_data) < 4096


def test_template_has_header_dropdowns_and_instructions(alice, demo):
    response = alice.get(reverse("bulkupload:template", kwargs={"spec": SPEC}))
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]] == ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]
    assert sheet.freeze_panes == "A2"
    lists = {str(dv.sqref)[0]: dv.formula1 for dv in sheet.data_validations.dataValidation}
    assert "Development" in lists["F"] and "Admin" in lists["F"]
    notes = book["Instructions"]
    by_column = {row[0].value: [c.value for c in row] for row in notes.iter_rows(min_row=2)}
    assert by_column["Hours"][1] == "yes"
    assert by_column["Note"][1] == "no"
    assert "Development" in by_column["Activity"][3]


def test_index_offers_the_template_and_a_new_upload(alice, demo):
    response = alice.get(reverse("bulkupload:index"))
    assert response.status_code == 200
    assert reverse("bulkupload:start", kwargs={"spec": SPEC}) in response.content.decode()


def test_getting_the_done_url_never_applies(alice, acme, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(three_rows(acme_people, workday)))
    wizard.to_confirm()
    response = alice.get(wizard.url("done"))
    assert response.status_code == 302 and response["Location"].endswith("/confirm/")
    assert Entry.objects.count() == 0
    assert wizard.batch().status == UploadBatch.Status.READY
