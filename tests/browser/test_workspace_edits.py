"""The preview as a workspace, in Chromium: edits are never lost (with and without JavaScript), two tabs, bulk fixes.

Every new page is checked by axe-core and photographed (``tests/artifacts/<test>/``).
"""

from __future__ import annotations

import datetime

import pytest
from playwright.sync_api import expect

from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from ..helpers import csv_file
from .conftest import Steps, tab_to
from .test_journeys import log_in


def upload(page, steps: Steps, tmp_path, rows: list[list], name: str = "week.csv") -> UploadBatch:
    """Start an upload from "my uploads" and send ``rows`` as a CSV file; the page ends at the preview."""
    path = tmp_path / name
    path.write_bytes(csv_file(rows))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Uploads").click()
    page.get_by_role("button", name="Start a new upload").first.click()
    page.get_by_label("Spreadsheet").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return UploadBatch.objects.latest("created_at")


def type_into(page, locator, text: str) -> None:
    """Focus the box, select what it holds and type over it, as a keyboard user does."""
    locator.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text)


def cell(batch: UploadBatch, number: int, key: str) -> str:
    return UploadRow.objects.get(batch=batch, row_number=number).values[key]


@pytest.fixture
def week(acme_people, workday):
    """Three rows with too many hours and one good row: three invalid rows to fix."""
    e, p = acme_people["emails"], acme_people["codes"]
    return [[e[i % 3], workday - datetime.timedelta(days=i), p[0], 30 if i < 3 else 2, "no", "Meeting", ""] for i in range(4)]


def test_an_edit_then_continue_is_kept_with_javascript(page, steps, week, tmp_path):
    log_in(page, steps)
    batch = upload(page, steps, tmp_path, week)
    steps.check("preview")
    type_into(page, page.get_by_label("Hours, row 2"), "4")
    # Straight to the big button: the cell is saved on the way, whether or not its own save finished first.
    tab_to(page, page.get_by_role("button", name="Continue to confirm"), limit=200)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Import now")).to_be_visible()
    steps.check("confirm")
    assert cell(batch, 2, "hours") == "4"
    batch.refresh_from_db()
    assert batch.invalid_count == 2


def test_a_cell_is_saved_and_checked_as_the_user_leaves_it(page, steps, week, tmp_path):
    log_in(page, steps)
    batch = upload(page, steps, tmp_path, week)
    hours = page.get_by_label("Hours, row 3")
    expect(hours).to_have_attribute("aria-invalid", "true")
    type_into(page, hours, "5")
    page.keyboard.press("Tab")
    expect(page.locator("#cell-status")).to_have_text("Row 3 saved: New.")
    expect(page.locator("#row-3 [data-role=badge]")).to_have_text("New")
    expect(hours).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-count="invalid"]')).to_have_text("2")
    steps.check("cell-saved-in-place")
    assert cell(batch, 3, "hours") == "5"


def test_an_edit_then_continue_is_kept_without_javascript(chromium, live_server, week, tmp_path, request):
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    steps = Steps(page, request.node.name)
    try:
        log_in_without_axe(page)
        batch = upload(page, steps, tmp_path, week)
        steps.shot("preview-without-javascript")
        type_into(page, page.get_by_label("Hours, row 2"), "4")
        type_into(page, page.get_by_label("Note, row 4"), "kept")
        page.get_by_role("button", name="Continue to confirm").click()
        expect(page.get_by_role("button", name="Import now")).to_be_visible()
        steps.shot("confirm-without-javascript")
        assert (cell(batch, 2, "hours"), cell(batch, 4, "note")) == ("4", "kept")
        assert sorted(UploadRow.objects.filter(batch=batch, version__gt=0).values_list("row_number", flat=True)) == [2, 4]
    finally:
        context.close()


def log_in_without_axe(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("bulkupload-demo")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Uploads")).to_be_visible()


def test_two_tabs_editing_one_row_keep_both_edits_or_tell_the_second(page, steps, week, tmp_path):
    log_in(page, steps)
    batch = upload(page, steps, tmp_path, week)
    second = page.context.new_page()
    second.goto(page.url)
    # Tab A fixes the hours; tab B, loaded before, adds a note to the same row: both are kept.
    type_into(page, page.get_by_label("Hours, row 2"), "6")
    page.keyboard.press("Tab")
    expect(page.locator("#row-2 [data-role=badge]")).to_have_text("New")
    type_into(second, second.get_by_label("Note, row 2"), "from tab B")
    second.keyboard.press("Tab")
    expect(second.locator("#cell-status")).to_contain_text("Row 2 saved")
    assert (cell(batch, 2, "hours"), cell(batch, 2, "note")) == ("6", "from tab B")
    # Both tabs now change the same cell: the second is told, and shown what the row holds now.
    type_into(page, page.get_by_label("Hours, row 3"), "7")
    page.keyboard.press("Tab")
    expect(page.locator("#row-3 [data-role=badge]")).to_have_text("New")
    type_into(second, second.get_by_label("Hours, row 3"), "8")
    second.keyboard.press("Tab")
    expect(second.locator("#cell-status")).to_contain_text("Row 3 was changed elsewhere")
    expect(second.get_by_label("Hours, row 3")).to_have_value("7")
    Steps(second, "two-tabs-second").check("second-tab-told")
    assert cell(batch, 3, "hours") == "7"
    second.close()


def test_find_and_replace_over_all_rows(page, steps, settings, acme_people, workday, tmp_path):
    settings.BULKUPLOAD = {**getattr(settings, "BULKUPLOAD", {}), "PREVIEW_PAGE_SIZE": 2}
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [[e[i % 3], workday - datetime.timedelta(days=i), p[0], 2, "no", "Programmieren" if i != 1 else "Meeting", ""] for i in range(5)]
    log_in(page, steps)
    batch = upload(page, steps, tmp_path, rows)
    expect(page.locator('[data-count="invalid"]')).to_have_text("4")
    page.get_by_text("Fix many rows at once").click()
    page.get_by_label("Column").select_option(label="Activity")
    type_into(page, page.get_by_label("Find (the whole cell)"), "Programmieren")
    type_into(page, page.get_by_label("Replace with"), "Development")
    steps.check("replace-form")
    tab_to(page, page.get_by_role("button", name="Find rows to change"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("4 rows will change.")).to_be_visible()
    steps.check("replace-count")
    tab_to(page, page.get_by_role("button", name="Replace in 4 rows"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Replaced in 4 rows. 0 invalid row(s) left.")).to_be_visible()
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    steps.check("replaced")
    activities = sorted(UploadRow.objects.filter(batch=batch).values_list("values__activity", flat=True))
    assert activities == ["Development"] * 4 + ["Meeting"]


def test_duplicate_resolution_keeps_exactly_the_chosen_rows(page, steps, acme_people, workday, tmp_path):
    e, p = acme_people["emails"], acme_people["codes"]
    day2 = workday - datetime.timedelta(days=1)
    rows = [[e[0], workday, p[0], h, "no", "Meeting", ""] for h in (1, 2, 3)]  # rows 2–4: one key
    rows += [[e[1], day2, p[0], h, "no", "Meeting", ""] for h in (4, 5)]  # rows 5–6: another key
    log_in(page, steps)
    batch = upload(page, steps, tmp_path, rows)
    expect(page.locator('[data-count="invalid"]')).to_have_text("5")
    steps.check("duplicates")
    # A row at a time: row 5 goes, so row 6 is no longer a duplicate.
    tab_to(page, page.get_by_role("button", name="Exclude row 5"), limit=200)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Row 5 is excluded")).to_be_visible()
    expect(page.locator("#row-5 [data-role=badge]")).to_have_text("Excluded")
    # Then the whole file: keep the last of rows 2–4.
    page.get_by_label("For every group").select_option(label="Keep the last")
    page.get_by_role("button", name="Resolve duplicates").click()
    expect(page.get_by_role("status").filter(has_text="2 duplicate rows excluded.")).to_be_visible()
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    steps.check("duplicates-resolved")
    page.get_by_role("button", name="Continue to confirm").click()
    page.get_by_role("button", name="Import now").click()
    expect(page.get_by_role("heading", name="Upload receipt")).to_be_visible()
    steps.check("receipt")
    assert sorted(Entry.objects.filter(upload_batch=batch).values_list("hours", flat=True)) == [3, 5]
