"""Issue 14 part C in Chromium: long work behind a progress page, and every page of the wizard on a 390 px screen."""

from __future__ import annotations

import datetime
import re
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from bulkupload.models import UploadBatch

from ..helpers import csv_file
from .test_journeys import log_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def reads_never_lock():
    """SQLite's in-memory test database is shared-cache: a reader's table lock makes the background writer fail at
    once (no busy wait), which a file database in WAL mode (`make run`) never does. The live server's connection
    reads without table locks here, as WAL readers do; PostgreSQL needs nothing."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.cursor().execute("PRAGMA read_uncommitted = 1")
    yield
    finish_background_work()
    connection.cursor().execute("PRAGMA read_uncommitted = 0")


def finish_background_work() -> None:
    """Let work still running on the server's threads end before the next test shares the in-memory database."""
    for thread in threading.enumerate():
        if thread.name.startswith("bulkupload-"):
            thread.join(timeout=120)


def page_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_a_large_upload_shows_the_progress_page_and_reaches_the_preview(
    page, steps, settings, acme_people, workday, tmp_path, reads_never_lock
):
    """2,000 rows above a lowered threshold: the request returns at once, the work runs on a thread, the page follows it."""
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 500, "TASKS_ON_THREAD": True}
    e, p = acme_people["emails"], acme_people["codes"]
    day = [workday - datetime.timedelta(days=n // 6) for n in range(2000)]
    rows = [[e[n % 3], day[n], p[(n // 3) % 2], 1 + n % 7, "no", "Development", f"row {n}"] for n in range(2000)]
    big = tmp_path / "year.csv"
    big.write_bytes(csv_file(rows))
    log_in(page, steps)
    page.goto("/uploads/")
    page.get_by_role("button", name="Start a new upload").first.click()
    page.get_by_label("Spreadsheet").set_input_files(str(big))
    seen = []
    page.on("response", lambda r: seen.append(r.url) if "/progress/" in r.url and r.status == 200 else None)
    # The page's polls are held back while axe-core reads it, so it cannot move on mid-check.
    page.route(re.compile(r"/progress/\?format=json"), lambda route: route.abort())
    page.get_by_role("button", name="Upload and check").click()
    # The request answered before the rows were read: the browser was sent to the progress page.
    page.wait_for_url(re.compile(r"/progress/"))
    expect(page.locator("#bulkupload-progress")).to_be_visible()
    expect(page.locator("#bulkupload-progress")).to_contain_text("row")
    steps.check("progress")
    page.unroute(re.compile(r"/progress/\?format=json"))
    # The page's script moves on by itself when the thread has read and checked every row.
    expect(page.locator('[data-count="total"], [data-count="new"]').first).to_be_visible(timeout=120_000)
    assert "/preview/" in page.url
    assert seen, "the progress page was never shown"
    batch = UploadBatch.objects.get()
    assert batch.total_rows == 2000 and batch.status == UploadBatch.Status.READY
    assert batch.valid_count > 500  # above the threshold: confirming runs in the background too
    steps.check("preview-after-progress")

    # Confirming is long work too: the progress page again, then the receipt.
    page.get_by_role("button", name="Continue to confirm").click()
    if page.get_by_label(re.compile("Skip the invalid rows")).count():
        page.get_by_label(re.compile("Skip the invalid rows")).check()
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/progress/" in r.url else None)
    page.get_by_role("button", name="Import now").click()
    expect(page.get_by_role("heading", name="Upload receipt")).to_be_visible(timeout=120_000)
    # The confirm answered at once and sent the browser to the progress page (which moves on when the work is done).
    assert sent, "confirming did not go through the progress page"
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.APPLIED and batch.created_count == batch.valid_count > 0
    steps.check("receipt-after-progress")


def test_progress_page_without_javascript_refreshes_itself(
    chromium, live_server, settings, acme_people, workday, tmp_path, reads_never_lock
):
    """No script: the working page carries a refresh, and the same address leads on to the preview once the work ends."""
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 500, "TASKS_ON_THREAD": True}
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [[e[n % 3], workday - datetime.timedelta(days=n // 6), p[(n // 3) % 2], 2, "no", "Meeting", ""] for n in range(1500)]
    big = tmp_path / "noscript.csv"
    big.write_bytes(csv_file(rows))
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("bulkupload-demo")
        page.get_by_role("button", name="Log in").click()
        page.goto("/uploads/")
        page.get_by_role("button", name="Start a new upload").first.click()
        page.get_by_label("Spreadsheet").set_input_files(str(big))
        page.get_by_role("button", name="Upload and check").click()
        page.wait_for_url(re.compile(r"/(progress|preview)/"))
        if "/progress/" in page.url:
            assert page.locator('noscript meta[http-equiv="refresh"], meta[http-equiv="refresh"]').count() >= 1
        page.wait_for_url(re.compile(r"/preview/"), timeout=120_000)  # the meta refresh carries it on
        expect(page.locator('[data-count="new"]')).to_be_visible()
    finally:
        context.close()


def test_wizard_pages_fit_a_390px_screen(page, steps, acme_people, workday, tmp_path):
    """Columns step, preview with errors far to the right, receipt and uploads: the page itself never scrolls sideways."""
    e, p = acme_people["emails"], acme_people["codes"]
    header = ["E-mail address of the employee", "Day", "Project code", "Hours worked", "Activity", "Comments"]
    note = "A long comment about the work of the day that would widen any naive table far beyond a phone"
    rows = [[e[n % 3], workday - datetime.timedelta(days=n), p[n % 2], 2 + n % 5, "Development", note] for n in range(12)]
    rows[4][3] = 30  # one invalid hours cell
    rows[7][0] = "nobody@acme.example"  # one unknown employee
    mine = tmp_path / "phone.csv"
    mine.write_bytes(csv_file(rows, header=header))

    page.set_viewport_size(PHONE)
    log_in(page, steps)
    page.goto("/uploads/")
    page.get_by_role("button", name="Start a new upload").first.click()
    page.get_by_label("Spreadsheet").set_input_files(str(mine))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("button", name="Use these columns")).to_be_visible()
    page.get_by_label("E-mail address of the employee").select_option("employee_email")
    page.get_by_label("Day", exact=True).select_option("date")
    page.get_by_label("Hours worked").select_option("hours")
    steps.check("phone-columns")
    assert page_width(page) <= 390
    # A sample is shown on lines of whole words, not one character per line.
    sample = page.locator("table.columns td.samples").first
    assert sample.evaluate("(el) => el.getBoundingClientRect().width") > 80

    page.get_by_role("button", name="Use these columns").click()
    expect(page.locator('[data-count="invalid"]')).to_have_text("2")
    steps.check("phone-preview")
    assert page_width(page) <= 390
    # The row's own summary names its errors where the row starts, with no sideways scroll.
    summary = page.locator("[data-row-summary]").filter(has_text="Hours must be at most 24.").first
    expect(summary).to_be_visible()
    box = summary.bounding_box()
    assert box is not None and box["x"] + min(box["width"], 40) <= 390
    # The row number stays in view while the table scrolls.
    page.locator(".table-scroll").first.evaluate("(el) => el.scrollLeft = el.scrollWidth")
    number = page.locator("table.preview tbody tr th").first
    assert number.bounding_box()["x"] >= 0 and number.bounding_box()["x"] < 60

    page.get_by_role("button", name="Continue to confirm").click()
    page.get_by_label(re.compile("Skip the invalid rows")).check()
    page.get_by_role("button", name="Import now").click()
    expect(page.get_by_role("heading", name="Upload receipt")).to_be_visible()
    steps.check("phone-receipt")
    assert page_width(page) <= 390

    page.goto("/uploads/")
    steps.check("phone-uploads")
    assert page_width(page) <= 390
