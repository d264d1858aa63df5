"""The values step in Chromium, with the keyboard alone: a mapping remembered on the next upload; an ambiguous date
column asked once. Every page is checked by axe-core and photographed (tests/artifacts/)."""

from __future__ import annotations

import datetime

import pytest
from playwright.sync_api import expect

from project.timesheets.models import Entry

from ..helpers import csv_file
from .conftest import tab_to
from .test_journeys import log_in


def upload(page, steps, path, label: str) -> None:
    page.goto("/uploads/")
    page.get_by_role("button", name="Start a new upload").first.click()
    steps.check(f"{label}-upload")
    page.get_by_label("Spreadsheet").set_input_files(str(path))
    button = page.get_by_role("button", name="Upload and check")
    tab_to(page, button)
    page.keyboard.press("Enter")


def choose_with_keyboard(page, select, label: str) -> None:
    """Focus a select with Tab and pick the option by typing, as a keyboard user does."""
    tab_to(page, select)
    select.select_option(label=label)  # the keyboard's type-ahead sets the same value; Playwright's call is its stand-in
    expect(select).to_be_focused()


def test_value_mapping_is_remembered_on_the_next_upload(page, steps, acme_people, workday, tmp_path):
    e, p = acme_people["emails"], acme_people["codes"]
    log_in(page, steps)
    first = tmp_path / "german.csv"
    rows = [[e[0], workday - datetime.timedelta(days=n), p[0], 2, "ja", "Entwicklung", ""] for n in range(3)]
    rows.append([e[1], workday, p[1], 1, "nein", "Besprechung", ""])
    first.write_bytes(csv_file(rows))
    upload(page, steps, first, "first")

    expect(page.get_by_role("heading", name="Timesheet entries")).to_be_visible()
    table = page.get_by_role("table", name="Values of “Activity” that match nothing")
    expect(table).to_be_visible()
    expect(table.get_by_role("row", name="Entwicklung")).to_contain_text("3")
    steps.check("values-step")
    # Suggestions are preselected: Entwicklung → Development; the user changes Besprechung to Meeting by keyboard.
    expect(page.get_by_label("Entwicklung")).to_have_value("Development")
    choose_with_keyboard(page, page.get_by_label("Besprechung"), "Meeting")
    submit = page.get_by_role("button", name="Use these values")
    tab_to(page, submit)
    page.keyboard.press("Enter")
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    steps.check("preview-after-mapping")

    second = tmp_path / "again.csv"
    second.write_bytes(csv_file([[e[2], workday, p[0], 3, "ja", "Entwicklung", ""], [e[2], workday, p[1], 1, "ja", "Besprechung", ""]]))
    upload(page, steps, second, "second")
    # Applied automatically, shown, and changeable.
    expect(page.locator("#values-automatic")).to_contain_text("2 values were mapped as you mapped them last time")
    expect(page.get_by_label("Entwicklung")).to_have_value("Development")
    expect(page.get_by_label("Besprechung")).to_have_value("Meeting")
    steps.check("values-remembered")
    submit = page.get_by_role("button", name="Use these values")
    tab_to(page, submit)
    page.keyboard.press("Enter")
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    page.get_by_role("button", name="Continue to confirm").click()
    page.get_by_role("button", name="Import now").click()
    expect(page.get_by_role("heading", name="Upload receipt")).to_be_visible()
    steps.check("receipt")
    assert sorted(Entry.objects.filter(employee__email=e[2]).values_list("activity", flat=True)) == ["Development", "Meeting"]


@pytest.mark.parametrize("browser_locale", ["en-US"])
def test_an_ambiguous_date_column_asks_once(page, steps, acme_people, tmp_path, browser_locale):
    e, p = acme_people["emails"], acme_people["codes"]
    days = [datetime.date(2026, 3, 10), datetime.date(2026, 10, 3)]
    if not all(day < datetime.date.today() for day in days):
        pytest.skip("needs the test dates to be in the past")
    log_in(page, steps)
    path = tmp_path / "either.csv"
    # Every date reads both ways: 03/10/2026 and 10/03/2026.
    path.write_bytes(csv_file([[e[0], "03/10/2026", p[0], 1, "", "Design", ""], [e[0], "10/03/2026", p[0], 2, "", "Design", ""]]))
    upload(page, steps, path, "dates")
    group = page.get_by_role("group", name="How are the dates in “Date” written?")
    expect(group).to_be_visible()
    expect(group).to_contain_text("“03/10/2026” is 3 October 2026 read day first, 10 March 2026 read month first.")
    # An en-US browser: month first is the default.
    expect(page.get_by_label("Month first (month/day/year)")).to_be_checked()
    steps.check("dates-question")
    day_first = page.get_by_label("Day first (day/month/year)")
    tab_to(page, page.get_by_label("Month first (month/day/year)"))
    page.keyboard.press("ArrowUp")  # radio buttons move with the arrow keys
    expect(day_first).to_be_checked()
    submit = page.get_by_role("button", name="Use these values")
    tab_to(page, submit)
    page.keyboard.press("Enter")
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    # Shown in the en-US format (month first), read day first as answered.
    expect(page.get_by_role("cell", name="10/3/2026").or_(page.get_by_role("cell", name="10/03/2026")).first).to_be_visible()
    steps.check("preview-dates")
    # Asked once: going on and coming back to the preview does not ask again.
    page.get_by_role("button", name="Continue to confirm").click()
    page.get_by_role("link", name="Back to the preview").or_(page.get_by_role("button", name="Back to the preview")).first.click()
    expect(page.get_by_role("group", name="How are the dates in “Date” written?")).to_have_count(0)
    steps.check("preview-again")
