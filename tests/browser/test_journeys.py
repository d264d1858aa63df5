"""Two journeys a person makes in Chromium, each page checked by axe-core and photographed."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from project.timesheets.models import Entry

from ..helpers import csv_file, fill_template
from .conftest import tab_to

PASSWORD = "bulkupload-demo"


def log_in(page, steps, username: str = "alice") -> None:
    page.goto("/accounts/login/")
    steps.check("login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Uploads")).to_be_visible()


def test_template_to_receipt_fixing_a_cell_in_the_page(page, steps, acme_people, workday, tmp_path):
    e, p = acme_people["emails"], acme_people["codes"]
    log_in(page, steps)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Uploads").click()
    steps.check("uploads")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the template (.xlsx)").first.click()
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)
    rows = [
        [e[0], workday, p[0], 7.5, "yes", "Development", "Sprint"],
        [e[1], workday, p[1], 30, "no", "Meeting", ""],
        [e[2], workday, p[0], 6, "", "Support", "Hotline"],
    ]
    filled = tmp_path / "march.xlsx"
    filled.write_bytes(fill_template(template.read_bytes(), rows))

    page.get_by_role("button", name="Start a new upload").first.click()
    steps.check("upload")
    page.get_by_label("Spreadsheet").set_input_files(str(filled))
    page.get_by_role("button", name="Upload and check").click()

    expect(page.locator('[data-count="invalid"]')).to_have_text("1")
    expect(page.get_by_text("Hours must be at most 24.").first).to_be_visible()
    steps.check("preview-with-an-invalid-row")

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the invalid rows")).click()
    report = tmp_path / "errors.xlsx"
    download.value.save_as(report)
    sheet = load_workbook(report).worksheets[0]
    assert sheet.cell(row=1, column=8).value == "Errors" and sheet.max_row == 2

    hours = page.get_by_label("Hours, row 3")
    expect(hours).to_have_attribute("aria-invalid", "true")
    hours.fill("3")
    page.get_by_role("button", name="Save fixes and check again").click()
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    expect(page.get_by_role("status")).to_contain_text("Saved 1 row(s)")
    steps.check("preview-fixed")

    page.get_by_role("button", name="Continue to confirm").click()
    steps.check("confirm")
    page.get_by_role("button", name="Import now").click()

    expect(page.get_by_role("heading", name="Upload receipt")).to_be_visible()
    expect(page.locator('[data-count="created"]')).to_have_text("3")
    steps.check("receipt")
    assert sorted(str(h) for h in Entry.objects.values_list("hours", flat=True)) == ["3.00", "6.00", "7.50"]

    page.get_by_role("link", name="All my uploads").click()
    expect(page.get_by_role("cell", name="march.xlsx")).to_be_visible()
    steps.check("my-uploads")
    assert Entry.objects.get(hours=6).note == "Hotline"


def test_own_headers_mapped_with_the_keyboard_alone(page, steps, acme_people, workday, tmp_path):
    e, p = acme_people["emails"], acme_people["codes"]
    mine = tmp_path / "hours-export.csv"
    header = ["E-mail", "Day", "Proj", "Hrs", "Activity", "Comments"]
    mine.write_bytes(csv_file([[e[0], workday, p[0], 7.5, "Development", "x"], [e[1], workday, p[1], 2, "Meeting", ""]], header=header))

    page.goto("/accounts/login/")
    tab_to(page, page.get_by_label("Username"))
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Uploads")).to_be_visible()

    tab_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Uploads"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("button", name="Start a new upload").first)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Spreadsheet")).to_be_visible()

    tab_to(page, page.get_by_label("Spreadsheet"))
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(mine))
    tab_to(page, page.get_by_role("button", name="Upload and check"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Timesheet entries")).to_be_visible()
    expect(page.get_by_label("Hrs")).to_have_value("hours")
    expect(page.get_by_label("Proj")).to_have_value("project_code")
    expect(page.get_by_label("E-mail")).to_have_value("employee_email")
    expect(page.get_by_label("Comments")).to_have_value("")
    steps.check("columns-suggested")

    # "Day" was not recognised as the date: continuing is blocked, with the reason announced.
    tab_to(page, page.get_by_role("button", name="Use these columns"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Choose a file column for the required column “Date”.")
    expect(page.locator("#columns-missing")).to_contain_text("Date")
    steps.check("columns-blocked")
    day = page.get_by_label("Day", exact=True)
    expect(day).to_have_value("")
    tab_to(page, day)
    page.keyboard.type("Date")  # type-ahead on the focused list chooses "Date (required)"
    expect(day).to_have_value("date")
    expect(page.locator("#columns-missing")).to_be_hidden()  # nothing required is left to choose
    tab_to(page, page.get_by_role("button", name="Use these columns"))
    page.keyboard.press("Enter")

    expect(page.locator('[data-count="new"]')).to_have_text("2")
    expect(page.get_by_role("columnheader", name=re.compile("Hours"))).to_contain_text("Hrs")
    steps.check("preview-after-mapping")

    tab_to(page, page.get_by_role("button", name="Continue to confirm"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("button", name="Import now"))
    page.keyboard.press("Enter")
    expect(page.locator('[data-count="created"]')).to_have_text("2")
    steps.check("receipt")


@pytest.mark.parametrize("browser_locale", ["de-DE"])
def test_german_pages_are_translated(page, steps, acme_people, workday, tmp_path):
    e, p = acme_people["emails"], acme_people["codes"]
    mine = tmp_path / "stunden.csv"
    mine.write_bytes(csv_file([[e[0], workday, p[0], 7.5, "Development"]], header=["E-Mail", "Datum", "Projekt", "Std", "Activity"]))
    page.goto("/accounts/login/")
    page.get_by_label("Benutzername").fill("alice")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.get_by_role("navigation", name="Hauptmenü").get_by_role("link", name="Uploads").click()
    expect(page.get_by_role("heading", name="Meine Uploads")).to_be_visible()
    steps.check("de-uploads")
    page.get_by_role("button", name="Neuen Upload starten").first.click()
    page.get_by_label("Tabelle").set_input_files(str(mine))
    page.get_by_role("button", name="Hochladen und prüfen").click()
    expect(page.get_by_text(re.compile("Wählen Sie, wohin jede gehört"))).to_be_visible()
    steps.check("de-columns")
    page.get_by_label("Std").select_option("hours")
    page.get_by_role("button", name="Diese Spalten verwenden").click()
    expect(page.locator('[data-count="new"]')).to_have_text("1")
    expect(page.locator("table.preview")).to_contain_text("7,5")  # numbers follow the locale
    steps.check("de-preview")
