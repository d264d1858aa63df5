"""Tampered or out-of-place wizard requests answer a redirect with a message (or a 4xx), never a 500."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .helpers import SPEC, Wizard, xlsx_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(acme_people, workday) -> list[list]:
    e, p = acme_people["emails"], acme_people["codes"]
    return [[e[i], workday - datetime.timedelta(days=i), p[0], 2, "no", "Admin", ""] for i in range(3)]


def messages_of(client, response) -> str:
    return client.get(response["Location"]).content.decode()


def test_a_tampered_current_step_is_overruled_by_the_url(alice, rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))

    response = wizard.client.post(wizard.url("preview"), {f"{wizard.prefix}-current_step": "no-such-step"})

    assert response.status_code == 302 and response["Location"].endswith("/confirm/")


def test_a_current_step_naming_a_step_this_upload_skips_is_overruled_too(alice, rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    wizard.to_confirm()

    response = wizard.client.post(wizard.url("confirm"), {f"{wizard.prefix}-current_step": "columns", "confirm-overwrite": "on"})

    assert response["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})
    assert Entry.objects.count() == 3


def test_posting_to_the_columns_step_of_an_upload_without_one_redirects_with_a_message(alice, rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))

    response = wizard.post_step("columns", {"columns-sheet": "Entries"})

    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    assert "That step is not part of this upload" in messages_of(alice, response)
    assert wizard.batch().status == UploadBatch.Status.READY


def test_posting_to_a_made_up_step_before_any_file_redirects_to_the_upload_step(alice):
    wizard = Wizard(alice).start()
    response = wizard.post_step("no-such-step")
    assert response.status_code == 302 and response["Location"].endswith("/upload/")


def test_a_post_without_the_wizards_management_form_is_taken_as_the_urls_step(alice, rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    response = alice.post(wizard.url("preview"), {})
    assert response.status_code == 302 and response["Location"].endswith("/confirm/")


def fix_post(client, wizard: Wizard, row_id: int, cells: dict[str, str]):
    data = {"fix-TOTAL_FORMS": "1", "fix-INITIAL_FORMS": "0", "fix-MIN_NUM_FORMS": "0", "fix-MAX_NUM_FORMS": "500"}
    data["fix-0-row"] = str(row_id)
    data.update({f"fix-0-{key}": value for key, value in cells.items()})
    return client.post(reverse("bulkupload:fix", kwargs={"spec": SPEC, "upload_id": wizard.upload_id}), data)


def test_a_fix_posted_on_an_upload_without_a_file_is_refused_and_leaves_it_waiting_for_one(alice):
    wizard = Wizard(alice).start()

    response = fix_post(alice, wizard, 1, {"employee_email": "a@acme.example", "hours": "1"})

    assert response.status_code == 302
    onward = alice.get(response["Location"])
    assert onward["Location"].endswith("/upload/")  # the preview of an upload without a file sends it on
    assert "The fixes were not saved: Upload a file first." in alice.get(onward["Location"]).content.decode()
    batch = wizard.batch()
    assert (batch.status, batch.total_rows, batch.validated_at) == (UploadBatch.Status.DRAFT, 0, None)


def test_a_fix_posted_on_an_applied_upload_goes_to_its_receipt_with_a_message(alice, rows, acme_people):
    bad = ["nobody@acme.example", rows[0][1], acme_people["codes"][1], 1, "no", "Admin", ""]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([*rows, bad]))
    invalid = UploadRow.objects.get(batch_id=wizard.upload_id, status=UploadRow.Status.INVALID)
    wizard.to_confirm()
    wizard.confirm(skip_invalid=True)

    response = fix_post(alice, wizard, invalid.pk, {**invalid.values, "employee_email": acme_people["emails"][0]})

    assert response["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": wizard.upload_id})
    assert "This upload has already been applied." in messages_of(alice, response)
    assert wizard.batch().status == UploadBatch.Status.APPLIED
