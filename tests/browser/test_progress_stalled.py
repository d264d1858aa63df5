"""Issue 13 in Chromium: work whose worker died is shown stopped by the polling page, and released only by its button."""

from __future__ import annotations

import datetime
import re

from playwright.sync_api import expect

from bulkupload import compat
from bulkupload.models import UploadBatch

from ..helpers import csv_file, worker_died
from .test_journeys import log_in

NO_WORKER = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}


def test_the_polling_page_shows_stopped_work_and_its_button_releases_it(page, steps, settings, acme_people, workday, tmp_path):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 5}
    settings.TASKS = NO_WORKER  # the reading task waits for a worker that never comes
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [[e[n % 3], workday - datetime.timedelta(days=n // 6), p[(n // 3) % 2], 1, "no", "Development", f"row {n}"] for n in range(30)]
    upload = tmp_path / "month.csv"
    upload.write_bytes(csv_file(rows))
    log_in(page, steps)
    page.goto("/uploads/")
    page.get_by_role("button", name="Start a new upload").first.click()
    page.get_by_label("Spreadsheet").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"/progress/"))
    expect(page.locator("#bulkupload-progress")).to_have_attribute("data-state", "working")
    batch = UploadBatch.objects.get()

    worker_died(batch.pk, phase="reading", silent_for=3600)  # the page's script polls and finds it stopped

    expect(page.get_by_role("alert")).to_contain_text("stopped without finishing")
    button = page.get_by_role("button", name="Upload the file again")
    expect(button).to_be_visible()
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.STAGING  # shown, not released
    steps.check("stalled")
    button.click()
    page.wait_for_url(re.compile(r"/upload/$"))
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.DRAFT
