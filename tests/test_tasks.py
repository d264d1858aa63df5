"""Large files through django.tasks: the progress page, failures the user can retry, and a real worker process."""

from __future__ import annotations

import datetime
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from bulkupload import background, compat, progress, services
from bulkupload.exceptions import BatchNotReady
from bulkupload.models import UploadBatch
from bulkupload.spec import get_spec
from project.timesheets.models import Entry

from .conftest import login, on_postgres
from .helpers import SPEC, Wizard, worker_died, xlsx_file

THRESHOLD = 20
DUMMY = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}
IMMEDIATE = {"default": {"BACKEND": compat.backend_path("immediate.ImmediateBackend")}}
DATABASE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
KEY = ("employee__email", "date", "project__code", "hours", "billable", "activity", "note")


@pytest.fixture(autouse=True)
def small_threshold(settings, private_file_root):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": THRESHOLD}


def large_rows(people, day: datetime.date, days: int = 10) -> list[list]:
    """Three people on two projects for ``days`` days: 6 × days rows, one hour each."""
    return [
        [email, day - datetime.timedelta(days=offset), code, 1, "yes", "Development", f"day {offset}"]
        for offset in range(days)
        for email in people["emails"]
        for code in people["codes"]
    ]


def result() -> list[tuple]:
    return sorted(Entry.objects.values_list(*KEY))


def progress_url(batch) -> str:
    return reverse("bulkupload:progress", kwargs={"batch_id": batch.pk})


def inline_result(client, content: bytes, settings) -> object:
    """Apply ``content`` in the request (below the task threshold), note the entries, and roll it back again."""
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 10_000}
    inline = Wizard(client).start()
    inline.run(content, "inline.xlsx")
    expected = result()
    services.rollback_batch(batch_id=inline.upload_id)
    return expected


def test_a_large_upload_through_tasks_reaches_the_inline_result(alice, acme_people, workday, settings):
    content = xlsx_file(large_rows(acme_people, workday))
    expected = inline_result(alice, content, settings)
    assert Entry.objects.count() == 0

    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": THRESHOLD}
    queued = Wizard(alice).start()
    response = queued.run(content, "queued.xlsx")

    batch = queued.batch()
    assert batch.task_id  # it went through django.tasks (the immediate backend runs it in the request)
    assert response["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
    assert (batch.status, batch.created_count) == ("applied", 60)
    assert result() == expected


def test_the_progress_page_works_without_javascript_and_moves_on_when_done(alice, acme_people, workday, settings):
    settings.TASKS = DUMMY  # the task waits in the queue, as it would for a busy worker
    wizard = Wizard(alice).start()
    uploaded = wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.STAGING

    # The wizard sends the user to the progress page while the task works.
    assert alice.get(uploaded["Location"])["Location"] == progress_url(batch)
    page = alice.get(progress_url(batch)).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "Waiting for a worker" in page and "bulkupload/progress.js" in page

    # Half way through, as a worker reports it.
    progress.file_listener(batch.pk)(progress.Snapshot(phase="reading", done=30, total=60))
    status = alice.get(progress_url(batch), {"format": "json"}).json()
    assert (status["state"], status["percent"], status["text"]) == ("working", 50, "30 of 60 rows")
    assert "50%" in alice.get(progress_url(batch)).content.decode()

    assert background.run_staging(batch.pk, sheet=None, positions=None) == "staged"

    status = alice.get(progress_url(batch), {"format": "json"}).json()
    assert status["state"] == "done" and status["next"] == wizard.url("preview")
    assert alice.get(progress_url(batch))["Location"] == wizard.url("preview")
    assert wizard.batch().new_count == 60


def test_a_failed_read_shows_its_message_and_the_user_can_upload_again(alice, acme_people, workday, settings):
    settings.TASKS = DUMMY
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "MAX_ROWS": 50}
    rows = large_rows(acme_people, workday)  # 60 rows: too many, found only when the task reads past row 51
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows), "broken.xlsx")
    batch = wizard.batch()

    assert background.run_staging(batch.pk, sheet=None, positions=None) == "rejected"

    page = alice.get(progress_url(batch)).content.decode()
    assert "The file has more than 50 data rows. Split it into smaller files." in page and "broken.xlsx" in page
    assert wizard.url("upload") in page and "Upload the file again" in page
    assert alice.get(progress_url(batch), {"format": "json"}).json()["state"] == "failed"
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.DRAFT and not batch.source_file

    settings.TASKS = IMMEDIATE
    response = wizard.upload(xlsx_file(large_rows(acme_people, workday, days=8)), "fixed.xlsx")
    assert response["Location"] == wizard.url("preview")
    batch.refresh_from_db()
    assert (batch.status, batch.task_error, batch.new_count) == ("ready", "", 48)


def test_with_the_immediate_backend_a_failed_read_shows_on_the_upload_step(alice, acme_people, workday, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "MAX_ROWS": 50}
    wizard = Wizard(alice).start()

    response = wizard.upload(xlsx_file(large_rows(acme_people, workday)), "broken.xlsx")

    assert response.status_code == 200
    assert "The file has more than 50 data rows." in response.content.decode()
    assert wizard.batch().status == UploadBatch.Status.DRAFT


def test_a_failed_apply_leaves_the_batch_ready_to_confirm_again(alice, acme_people, workday, settings):
    rows = large_rows(acme_people, workday)
    rows[3][3] = 30  # an invalid row
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    settings.TASKS = DUMMY
    batch, queued = background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    assert queued and batch.status == UploadBatch.Status.APPLYING
    assert alice.get(wizard.url("confirm"))["Location"] == progress_url(batch)

    assert background.run_apply(batch.pk) == "refused"

    page = alice.get(progress_url(batch)).content.decode()
    assert "1 row is invalid: fix it or choose to skip it." in page
    assert wizard.url("confirm") in page and "Back to confirming" in page
    assert Entry.objects.count() == 0
    settings.TASKS = IMMEDIATE
    wizard.confirm(skip_invalid=True)
    assert (wizard.batch().status, wizard.batch().task_error, Entry.objects.count()) == ("applied", "", 59)


def test_confirming_twice_on_the_task_path_queues_once(alice, acme_people, workday, settings):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    settings.TASKS = DUMMY

    first = background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    second = background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)

    assert (first[1], second[1]) == (True, False)
    assert background.run_apply(wizard.upload_id) == "applied"
    assert background.run_apply(wizard.upload_id) == "gone"
    assert Entry.objects.count() == 60


def batch_row(batch_id) -> dict:
    """The batch's row as stored, every column (``updated_at`` too): what a GET must leave as it was."""
    return UploadBatch.objects.filter(pk=batch_id).values().get()


def test_a_task_whose_worker_died_is_shown_stopped_and_released_when_the_user_tries_again(alice, acme_people, workday, settings):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    settings.TASKS = DUMMY
    batch, _queued = background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    worker_died(batch.pk, phase="applying", silent_for=601)
    before = batch_row(batch.pk)

    status = alice.get(progress_url(batch), {"format": "json"}).json()

    assert (status["state"], status["status"], status["stalled"]) == ("failed", "ready", True)
    assert status["message"] == "The background work stopped without finishing. Nothing was saved; please try again."
    page = alice.get(progress_url(batch)).content.decode()
    assert status["message"] in page and "Back to confirming" in page
    assert f'<form method="post" action="{progress_url(batch)}">' in page and "csrfmiddlewaretoken" in page
    assert batch_row(batch.pk) == before  # looking wrote nothing: still applying, until the user asks again

    response = alice.post(progress_url(batch))

    assert response.status_code == 302 and response["Location"] == wizard.url("confirm")
    assert (wizard.batch().status, Entry.objects.count()) == ("ready", 0)
    settings.TASKS = IMMEDIATE
    wizard.confirm()
    assert (wizard.batch().status, wizard.batch().task_error, Entry.objects.count()) == ("applied", "", 60)


def test_a_dead_reading_task_sends_the_user_back_to_upload(alice, acme_people, workday, settings):
    settings.TASKS = DUMMY
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.STAGING
    worker_died(batch.pk, phase="reading", silent_for=601)

    status = alice.get(progress_url(batch), {"format": "json"}).json()
    assert (status["state"], status["status"], status["stalled"]) == ("failed", "draft", True)
    assert "Upload the file again" in alice.get(progress_url(batch)).content.decode()
    assert wizard.batch().status == UploadBatch.Status.STAGING

    response = alice.post(progress_url(batch))

    assert response.status_code == 302 and response["Location"] == wizard.url("upload")
    assert wizard.batch().status == UploadBatch.Status.DRAFT


@pytest.mark.parametrize("phase", ["reading", "applying"])
def test_looking_at_stalled_work_writes_nothing(alice, acme_people, workday, settings, phase):
    """No GET changes state: the progress page, its JSON and the API show stalled work as stopped and leave the row be."""
    wizard = Wizard(alice).start()
    if phase == "reading":
        settings.TASKS = DUMMY
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    if phase == "applying":
        settings.TASKS = DUMMY
        background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    worker_died(wizard.upload_id, phase=phase, silent_for=601)
    before = batch_row(wizard.upload_id)

    alice.get(progress_url(wizard.batch()))
    alice.get(progress_url(wizard.batch()), {"format": "json"})
    shown = alice.get(reverse("bulkupload_api:upload", kwargs={"upload_id": wizard.upload_id})).json()

    assert "stopped without finishing" in shown["message"]
    assert batch_row(wizard.upload_id) == before
    assert progress.last_report(wizard.upload_id) is not None  # its progress file is kept too


def test_trying_again_on_work_that_is_not_stalled_changes_nothing(alice, acme_people, workday, settings):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    settings.TASKS = DUMMY
    batch, _queued = background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    worker_died(batch.pk, phase="applying", silent_for=30)  # heard from lately
    before = batch_row(batch.pk)

    response = alice.post(progress_url(batch))

    assert response.status_code == 302 and response["Location"] == progress_url(batch)
    assert batch_row(batch.pk) == before


@pytest.mark.parametrize(("phase", "silent_for"), [("queued", 3600), ("applying", 30)])
def test_a_task_waiting_for_a_worker_or_heard_from_lately_keeps_working(alice, acme_people, workday, settings, phase, silent_for):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    settings.TASKS = DUMMY
    batch, _queued = background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    worker_died(batch.pk, phase=phase, silent_for=silent_for)

    assert alice.get(progress_url(batch), {"format": "json"}).json()["state"] == "working"
    assert wizard.batch().status == UploadBatch.Status.APPLYING


def test_another_users_progress_page_answers_404(alice, bob, acme_people, workday, settings):
    settings.TASKS = DUMMY
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))

    assert bob.get(progress_url(wizard.batch())).status_code == 404
    assert bob.get(progress_url(wizard.batch()), {"format": "json"}).status_code == 404


def test_small_files_never_touch_the_task_backend(alice, acme_people, workday, settings):
    settings.TASKS = DUMMY  # small files never touch the task backend
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file(large_rows(acme_people, workday, days=1)))

    assert (wizard.batch().status, wizard.batch().task_id) == ("applied", "")


def test_queueing_a_batch_that_is_being_read_is_refused(acme, acme_people, workday, settings):
    settings.TASKS = DUMMY
    batch = services.create_batch(spec=get_spec(SPEC), user=get_user_model().objects.get(username="alice"))
    upload = io.BytesIO(xlsx_file(large_rows(acme_people, workday)))
    background.stage_or_queue(batch, upload, name="big.xlsx")

    with pytest.raises(BatchNotReady):
        background.queue_staging(batch, sheet=None, positions=None)


# --- a real worker process -------------------------------------------------------------


def run_worker(file_root: Path) -> None:
    """`manage.py db_worker --batch`: run every queued task in a separate process, then exit."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "TASKS_BACKEND": "database",
        "BULKUPLOAD_FILE_ROOT": str(file_root),
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    finished = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--interval", "0.1"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_process_reaches_the_same_result_as_the_inline_path(demo, acme_people, workday, settings, private_file_root):
    """The worker is another process, so it must see committed data in the same database: on SQLite the test
    database lives in this process's memory, hence PostgreSQL only (CI runs the suite on both)."""
    if not on_postgres():
        pytest.skip("A worker process needs a database it can share with the test (PostgreSQL; SQLite's test database is in memory).")
    alice = login("alice")
    content = xlsx_file(large_rows(acme_people, workday))
    expected = inline_result(alice, content, settings)

    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": THRESHOLD}
    settings.TASKS = DATABASE
    wizard = Wizard(alice).start()
    wizard.upload(content, "queued.xlsx")
    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.STAGING
    assert alice.get(progress_url(batch), {"format": "json"}).json()["state"] == "working"

    run_worker(private_file_root)

    assert alice.get(progress_url(batch))["Location"] == wizard.url("preview")
    assert wizard.batch().new_count == 60
    wizard.to_confirm()
    assert wizard.confirm()["Location"] == progress_url(batch)
    assert wizard.batch().status == UploadBatch.Status.APPLYING

    run_worker(private_file_root)

    assert alice.get(progress_url(batch))["Location"] == reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
    assert (wizard.batch().status, wizard.batch().created_count) == ("applied", 60)
    assert result() == expected


def test_the_row_estimate_reads_only_what_a_sheet_declares():
    import io

    from bulkupload.background import estimate_rows

    from .helpers import HEADER, csv_file

    rows = [["a@b.example", "2026-01-05", "P-001", 1, "no", "Admin", ""]] * 30
    assert estimate_rows(io.BytesIO(xlsx_file(rows)), name="30.xlsx") == 31  # the header's row too
    assert estimate_rows(io.BytesIO(csv_file(rows)), name="30.csv") == 31
    assert estimate_rows(io.BytesIO(xlsx_file([], header=HEADER)), name="empty.xlsx") == 1


def test_the_api_shows_stalled_work_and_the_next_confirm_releases_and_applies_it(alice, acme_people, workday, settings):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(large_rows(acme_people, workday)))
    settings.TASKS = DUMMY
    background.queue_apply(wizard.upload_id, overwrite=True, skip_invalid=False)
    worker_died(wizard.upload_id, phase="applying", silent_for=601)
    before = batch_row(wizard.upload_id)
    url = reverse("bulkupload_api:upload", kwargs={"upload_id": wizard.upload_id})

    shown = alice.get(url).json()

    assert shown["status"] == "ready"
    assert shown["message"] == "The background work stopped without finishing. Nothing was saved; please try again."
    assert batch_row(wizard.upload_id) == before
    settings.TASKS = IMMEDIATE
    confirmed = alice.post(f"{url}confirm/", {}, content_type="application/json")
    assert (confirmed.status_code, confirmed.json()["applied"]) == (200, True)
    assert (wizard.batch().status, Entry.objects.count()) == ("applied", 60)
