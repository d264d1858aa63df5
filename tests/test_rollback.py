"""Rollback: the exact previous state comes back, changes made since are refused by row, twice is once."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from bulkupload import services, signals
from bulkupload.exceptions import RollbackConflict
from bulkupload.models import UploadBatch
from bulkupload.spec import get_spec
from project.timesheets.models import Entry

from .helpers import SPEC, xlsx_file

FIELDS = ("employee_id", "date", "project_id", "hours", "billable", "activity", "note", "upload_batch_id")


def apply_rows(rows: list[list]) -> UploadBatch:
    """Upload and confirm rows as alice, through the services the wizard uses."""
    alice = get_user_model().objects.get(username="alice")
    batch = services.create_batch(spec=get_spec(SPEC), user=alice)
    upload = io.BytesIO(xlsx_file(rows))
    services.stage_upload(batch=batch, upload=upload, name="entries.xlsx")
    batch, applied = services.apply_batch(batch_id=batch.pk)
    assert applied
    return batch


def snapshot() -> dict[int, tuple]:
    return {entry["pk"]: tuple(entry[f] for f in FIELDS) for entry in Entry.objects.values("pk", *FIELDS)}


@pytest.fixture
def first_and_second(acme, acme_people, workday):
    """Batch one creates three entries; batch two updates two of them (rows 2 and 3) and creates one (row 4)."""
    e, p = acme_people["emails"], acme_people["codes"]
    first = apply_rows(
        [
            [e[0], workday, p[0], 7.5, "yes", "Development", "Sprint work"],
            [e[1], workday, p[1], 4, "no", "Meeting", ""],
            [e[2], workday, p[0], 8, "yes", "Support", "Hotline"],
        ]
    )
    before = snapshot()
    second = apply_rows(
        [
            [e[0], workday, p[0], 6, "no", "Design", "Changed"],
            [e[1], workday, p[1], 5, "no", "Meeting", "Longer"],
            [e[2], workday, p[1], 1, "no", "Admin", "New one"],
        ]
    )
    assert (second.created_count, second.updated_count) == (1, 2)
    return first, second, before


def test_rollback_restores_the_exact_previous_state(first_and_second, alice):
    first, second, before = first_and_second

    response = alice.post(reverse("bulkupload:rollback", kwargs={"batch_id": second.pk}), follow=True)

    assert "The upload was rolled back." in response.content.decode()
    assert snapshot() == before  # created entry gone, updated ones back, down to which batch wrote them
    assert set(Entry.objects.values_list("upload_batch_id", flat=True)) == {first.pk}
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.ROLLED_BACK and second.rolled_back_at is not None


def test_rollback_refuses_naming_a_row_changed_by_hand_since(first_and_second, acme_people):
    _first, second, _before = first_and_second
    entry = Entry.objects.get(employee__email=acme_people["emails"][1])
    entry.hours = Decimal("2.25")
    entry.save()
    after_edit = snapshot()

    with pytest.raises(RollbackConflict) as refused:
        services.rollback_batch(batch_id=second.pk)

    assert refused.value.rows == [3]
    assert str(refused.value) == "Row 3 was changed after this upload; rolling back would overwrite that change."
    assert snapshot() == after_edit  # all or nothing: not even the unchanged rows were rolled back
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.APPLIED


def test_rollback_refuses_naming_rows_a_later_batch_changed(first_and_second, acme_people, workday):
    _first, second, _before = first_and_second
    e, p = acme_people["emails"], acme_people["codes"]
    apply_rows([[e[0], workday, p[0], 3, "no", "Design", "Third"], [e[2], workday, p[1], 2, "no", "Admin", "Third"]])

    with pytest.raises(RollbackConflict) as refused:
        services.rollback_batch(batch_id=second.pk)

    assert refused.value.rows == [2, 4]
    assert "Rows 2, 4 were changed after this upload" in str(refused.value)


def test_the_page_asks_first_and_names_a_refusal_then_rolls_back_anyway_when_told(first_and_second, alice, acme_people):
    _first, second, before = first_and_second
    url = reverse("bulkupload:rollback", kwargs={"batch_id": second.pk})
    asked = alice.get(url).content.decode()
    assert "Roll back this upload?" in asked
    Entry.objects.filter(employee__email=acme_people["emails"][0]).update(note="by hand")

    refused = alice.post(url)

    assert refused.status_code == 200
    assert "Row 2 was changed after this upload" in refused.content.decode()
    assert 'name="force"' in refused.content.decode()
    assert UploadBatch.objects.get(pk=second.pk).status == UploadBatch.Status.APPLIED

    forced = alice.post(url, {"force": "1"})

    assert forced.status_code == 302
    assert UploadBatch.objects.get(pk=second.pk).status == UploadBatch.Status.ROLLED_BACK
    assert snapshot() == before


def test_only_an_applied_upload_has_a_rollback_page(first_and_second, alice):
    _first, second, _before = first_and_second
    services.rollback_batch(batch_id=second.pk)
    assert alice.get(reverse("bulkupload:rollback", kwargs={"batch_id": second.pk})).status_code == 404


def test_forcing_rolls_back_over_later_changes(first_and_second, acme_people):
    _first, second, before = first_and_second
    Entry.objects.filter(employee__email=acme_people["emails"][1]).update(note="by hand")

    _batch, done = services.rollback_batch(batch_id=second.pk, force=True)

    assert done
    assert snapshot() == before


def test_rolling_back_twice_does_nothing_the_second_time(first_and_second, django_capture_on_commit_callbacks):
    _first, second, before = first_and_second
    sent = []
    signals.batch_rolled_back.connect(lambda sender, batch, **kw: sent.append(batch.pk), weak=False, dispatch_uid="test-twice")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.rollback_batch(batch_id=second.pk)[1] is True
        with django_capture_on_commit_callbacks(execute=True):
            assert services.rollback_batch(batch_id=second.pk)[1] is False
    finally:
        signals.batch_rolled_back.disconnect(dispatch_uid="test-twice")

    assert snapshot() == before
    assert sent == [second.pk]


def test_applying_sends_batch_applied_after_commit(acme, acme_people, workday, django_capture_on_commit_callbacks):
    e, p = acme_people["emails"], acme_people["codes"]
    sent = []
    signals.batch_applied.connect(lambda sender, batch, **kw: sent.append(batch.created_count), weak=False, dispatch_uid="test-applied")
    try:
        with django_capture_on_commit_callbacks(execute=False) as pending:
            apply_rows([[e[0], workday, p[0], 7.5, "yes", "Development", ""]])
        assert sent == []  # nothing is announced before the commit
        for callback in pending:
            callback()
    finally:
        signals.batch_applied.disconnect(dispatch_uid="test-applied")

    assert sent == [1]


def test_another_users_batch_cannot_be_rolled_back(first_and_second, bob):
    _first, second, _before = first_and_second
    after_second = snapshot()

    response = bob.post(reverse("bulkupload:rollback", kwargs={"batch_id": second.pk}))

    assert response.status_code == 404
    assert snapshot() == after_second
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.APPLIED


def test_rolling_back_needs_the_permissions_uploading_needs(first_and_second, alice, monkeypatch):
    _first, second, _before = first_and_second
    after_second = snapshot()
    receipt = reverse("bulkupload:batch", kwargs={"batch_id": second.pk})
    url = reverse("bulkupload:rollback", kwargs={"batch_id": second.pk})
    assert "Roll back this upload…" in alice.get(receipt).content.decode()
    # The upload type now asks for a permission alice does not have (her role changed since she uploaded).
    monkeypatch.setattr(get_spec(SPEC), "permissions", ("timesheets.add_entry",))

    page, posted = alice.get(url), alice.post(url, {"force": "1"})

    assert page.status_code == posted.status_code == 403
    assert "You may no longer upload these records, so you cannot roll this upload back." in posted.content.decode()
    assert "Roll back this upload…" not in alice.get(receipt).content.decode()
    assert snapshot() == after_second
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.APPLIED
