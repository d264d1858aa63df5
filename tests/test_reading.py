"""Cells taken deliberately: errors and formulas invalid at their cell, dates in the workbook's own system,
headers found under titles, CSV flavours, short and long rows invalid at their row, and every file the app
writes safe to open."""

from __future__ import annotations

import datetime
import io
import os
import subprocess
import sys
import zipfile

import openpyxl
import pytest
from django.urls import reverse
from openpyxl.chart import BarChart, Reference
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from bulkupload import services
from bulkupload.models import UploadRow
from bulkupload.reading import open_table
from bulkupload.workbook import write_row

from .helpers import HEADER, Wizard, csv_file, xlsx_file
from .hostile import ROOT, header_row_xml, workbook_with_sheet


@pytest.fixture
def rows(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [
        [e[0], workday.isoformat(), p[0], "7.5", "yes", "Development", "first"],
        [e[1], workday.isoformat(), p[1], "4", "no", "Meeting", "second"],
    ]


def table_of(content: bytes, name: str = "entries.xlsx") -> tuple[list[str], list[tuple[int, list[str]]]]:
    table = open_table(io.BytesIO(content), name=name)
    return table.header, [(number, list(cells)) for number, cells in table.rows]


def staged(wizard: Wizard) -> dict[int, UploadRow]:
    return {row.row_number: row for row in UploadRow.objects.filter(batch_id=wizard.upload_id)}


# --- error cells and formulas: invalid at their cell, never blank or zero ----------------------------


def test_an_excel_error_cell_is_invalid_at_its_cell(alice, rows):
    rows[0][3] = "#DIV/0!"  # openpyxl writes this as an error cell, as Excel would
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    row = staged(wizard)[2]
    assert row.status == "invalid"
    assert row.errors["hours"] == ["The cell shows the Excel error #DIV/0!, not a value. Correct it in the file or type the value here."]
    assert staged(wizard)[3].status == "new"
    assert "The cell shows the Excel error #DIV/0!" in wizard.preview().content.decode()


def test_an_excel_error_exported_to_csv_is_invalid_too(alice, rows):
    rows[1][1] = "#N/A"
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows), "entries.csv")
    assert staged(wizard)[3].errors["date"] == [
        "The cell shows the Excel error #N/A, not a value. Correct it in the file or type the value here."
    ]


def test_a_formula_without_a_saved_result_is_invalid_at_its_cell(alice, rows):
    rows[0][3] = "=3+4.5"  # openpyxl saves formulas without results, like a generator script would
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    row = staged(wizard)[2]
    assert row.values["hours"] == "=3+4.5"
    assert row.errors["hours"] == [
        "The cell holds a formula whose result was never saved. "
        "Open the file in Excel, save it and upload it again, or type the value here."
    ]


def test_a_formula_with_its_saved_result_reads_as_that_result():
    cells = '<c r="A2" t="inlineStr"><is><t>ada</t></is></c><c r="D2"><f>3+4.5</f><v>7.5</v></c>'
    _header, data = table_of(workbook_with_sheet(header_row_xml() + f'<row r="2">{cells}</row>'))
    assert data == [(2, ["ada", "", "", "7.5", "", "", ""])]


def test_fixing_an_error_cell_in_the_preview_clears_its_message(alice, rows):
    rows[0][3] = "#VALUE!"
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    row = staged(wizard)[2]
    services.save_fixes(
        batch=wizard.batch(), edits={row.pk: {**{k: v for k, v in row.values.items() if k != "__problems__"}, "hours": "7.5"}}
    )
    row.refresh_from_db()
    assert (row.status, row.errors) == ("new", {})


# --- dates, times, spaces ------------------------------------------------------------------------------


def test_serial_dates_use_the_workbooks_1904_date_system():
    book = openpyxl.Workbook()
    book.epoch = CALENDAR_MAC_1904
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["ada", datetime.date(2026, 11, 2), "P-001", 7.5])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert b'date1904="1"' in archive.read("xl/workbook.xml")
    _header, data = table_of(buffer.getvalue())
    assert data[0][1][1] == "2026-11-02"


def test_a_duration_in_an_hours_column_reads_as_hours():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["ada", "2026-11-02", "P-001", datetime.timedelta(hours=7, minutes=30)])
    sheet["D2"].number_format = "[h]:mm"
    buffer = io.BytesIO()
    book.save(buffer)
    assert table_of(buffer.getvalue())[1][0][1][3] == "7.5"


def test_non_breaking_and_zero_width_spaces_around_values_are_stripped(alice, acme, rows):
    rows[0][0] = f"\u00a0{rows[0][0]}\u200b "
    rows[0][2] = f"\ufeff{rows[0][2]}\u00a0"
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows), "entries.csv")
    assert wizard.batch().new_count == 2


# --- where the table is ---------------------------------------------------------------------------------


def test_the_header_is_found_under_a_title_and_blank_rows_are_skipped_with_their_numbers_kept():
    content = xlsx_file([["Timesheets, November"], [], HEADER, ["a", "b"], [], [], ["c", "d", "", "", "", "", "", "", ""]], header=None)
    header, data = table_of(content)
    assert header == HEADER
    assert [(number, cells[:2]) for number, cells in data] == [(4, ["a", "b"]), (7, ["c", "d"])]
    assert all(len(cells) == len(HEADER) for _number, cells in data)


def test_the_sheet_is_chosen_in_file_order_never_because_it_was_active(rows):
    book = openpyxl.Workbook()
    entries = book.active
    entries.title = "Entries"
    for row in [HEADER, *rows]:
        entries.append(row)
    notes = book.create_sheet("Notes")
    notes.append(["Read me first"])
    book.active = 1
    chart = BarChart()
    chart.add_data(Reference(entries, min_col=4, min_row=1, max_row=3), titles_from_data=True)
    book.create_chartsheet("Chart", 0).add_chart(chart)
    buffer = io.BytesIO()
    book.save(buffer)
    table = open_table(io.BytesIO(buffer.getvalue()), name="entries.xlsx")
    assert (table.sheet, table.header, len(list(table.rows))) == ("Entries", HEADER, 2)


# --- CSV ------------------------------------------------------------------------------------------------------


def test_csv_in_utf16_with_a_byte_order_mark_is_read(rows):
    header, data = table_of(csv_file(rows, delimiter="\t", encoding="utf-16"), "entries.csv")
    assert (header, data[0][1][6]) == (HEADER, "first")


@pytest.mark.parametrize("delimiter", ["|", ";", "\t", ","])
def test_a_sep_line_names_the_delimiter_and_is_not_the_header(rows, delimiter):
    rows[0][6] = "semi; colons, | pipes and commas"
    content = f"sep={delimiter}\r\n".encode() + csv_file(rows, delimiter=delimiter)
    header, data = table_of(content, "entries.csv")
    assert header == HEADER
    assert data[0] == (3, rows[0])


def test_the_delimiter_comes_from_the_header_not_from_quoted_commas(rows):
    content = csv_file(
        rows, header=["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note, if any"], delimiter=";"
    )
    header, _data = table_of(content, "entries.csv")
    assert header[-1] == "Note, if any" and len(header) == 7


def test_a_quoted_cell_over_several_lines_keeps_the_row_numbers_excel_shows(rows):
    rows[0][6] = "line one\nline two"
    _header, data = table_of(csv_file(rows), "entries.csv")
    assert [number for number, _cells in data] == [2, 3]
    assert data[0][1][6] == "line one\nline two"


def test_csv_rows_with_too_few_or_too_many_fields_are_invalid_at_their_row(alice, rows):
    content = csv_file(rows) + b"only,three,fields\r\n" + b",".join([c.encode() for c in rows[0]] + [b"surplus", b"more"]) + b"\r\n"
    wizard = Wizard(alice).start()
    wizard.upload(content, "entries.csv")
    found = staged(wizard)
    assert (found[2].status, found[3].status) == ("new", "new")
    assert found[4].errors["__all__"] == ["This row has 3 fields but the header has 7: a separator is missing or a quote is not closed."]
    assert found[5].errors["__all__"] == ["This row has values beyond the last column of the header, in column H, I."]
    page = wizard.preview().content.decode()
    assert "This row has 3 fields but the header has 7" in page


# --- files the app writes ------------------------------------------------------------------------------


HOSTILE_TEXT = [
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(A1)",
    "#N/A",
    "ctrl\x01\x08chars",
    "lone\ud800surrogate",
]


def test_written_text_never_becomes_a_formula_and_drops_what_xlsx_cannot_hold():
    book = openpyxl.Workbook()
    write_row(book.active, 1, [*HOSTILE_TEXT, "x" * 40_000])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b't="e"' not in sheet_xml
    cells = [cell for cell in openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active[1]]
    assert [cell.data_type for cell in cells] == ["s"] * 8
    assert [cell.value for cell in cells[:7]] == [*HOSTILE_TEXT[:5], "ctrlchars", "lonesurrogate"]
    assert len(cells[7].value) == 32_767


def test_the_error_report_of_a_hostile_upload_opens_as_plain_text(alice, rows):
    rows[0][6] = '=HYPERLINK("http://evil.example","click")'
    rows[0][3] = "abc\x01"
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows), "entries.csv")
    response = alice.get(reverse("bulkupload:error_report", kwargs={"spec": "timesheet-entries", "upload_id": wizard.upload_id}))
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    row = {header.value: cell for header, cell in zip(sheet[1], sheet[2], strict=True)}
    assert row["Note"].value == '=HYPERLINK("http://evil.example","click")' and row["Note"].data_type == "s"
    assert row["Hours"].value == "abc"


# --- defusedxml is required --------------------------------------------------------------------------------


def test_the_app_refuses_to_start_without_defusedxml():
    script = (
        "import sys; sys.modules['defusedxml'] = None\n"  # as if it were not installed
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('check')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "project.settings"}
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert process.returncode != 0
    assert "(bulkupload.E001) defusedxml is not installed; uploaded workbooks cannot be parsed safely." in process.stderr


def test_the_upload_reads_the_sheet_whose_header_matches_not_the_first_or_active_one(alice, rows):
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Read me"
    notes.append(["How to fill in this workbook"])
    entries = book.create_sheet("Entries")
    for row in [["Timesheets, November"], HEADER, *rows]:
        entries.append(row)
    book.create_sheet("Lists").append(["Development", "Design"])
    book.active = 2
    buffer = io.BytesIO()
    book.save(buffer)
    wizard = Wizard(alice).start()
    assert wizard.upload(buffer.getvalue())["Location"].endswith("/preview/")
    batch = wizard.batch()
    assert (batch.sheet_name, batch.header_row, batch.new_count) == ("Entries", 2, 2)
    assert sorted(staged(wizard)) == [3, 4]
