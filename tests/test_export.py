"""Export → edit in a spreadsheet → upload: exactly the edited rows are updates, the rest unchanged."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from bulkupload import workbook
from bulkupload.spec import get_spec
from project.timesheets.models import Employee, Entry, Project

from .conftest import login
from .helpers import HEADER, SPEC, Wizard


@pytest.fixture
def five_entries(acme, acme_people, workday):
    """Five Acme entries, one with a note that looks like a formula."""
    e, p = acme_people["emails"], acme_people["codes"]
    people = {x.email: x for x in Employee.objects.filter(tenant=acme, email__in=e)}
    projects = {x.code: x for x in Project.objects.filter(tenant=acme, code__in=p)}
    for email, code, hours, billable, activity, note in [
        (e[0], p[0], "7.25", True, "Development", "=SUM(A1:A2)"),
        (e[1], p[1], "4", False, "Meeting", ""),
        (e[2], p[0], "8", True, "Support", "Hotline"),
        (e[0], p[1], "0.5", False, "Admin", "Timesheets"),
        (e[1], p[0], "2", True, "Design", "Mockups"),
    ]:
        Entry.objects.create(
            tenant=acme,
            employee=people[email],
            project=projects[code],
            date=workday,
            hours=Decimal(hours),
            billable=billable,
            activity=activity,
            note=note,
        )
    return Entry.objects.filter(tenant=acme).order_by("pk")


def edit_two_rows(content: bytes) -> bytes:
    """What a person does in Excel: change the hours of row 2 and the note of row 4, save."""
    book = load_workbook(io.BytesIO(content))
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    sheet.cell(row=2, column=header.index("Hours") + 1).value = "6.5"
    sheet.cell(row=4, column=header.index("Note") + 1).value = "Hotline, evening"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def values(entries) -> list[tuple]:
    return [(e.pk, e.hours, e.billable, e.activity, e.note, e.date) for e in entries]


def test_admin_export_edit_two_rows_upload_gives_exactly_two_updates(five_entries):
    before = values(five_entries)
    admin = login("admin")
    exported = admin.post(
        reverse("admin:timesheets_entry_changelist"),
        {"action": "export_selected_as_spreadsheet", ACTION_CHECKBOX_NAME: [str(e.pk) for e in five_entries]},
    )

    wizard = Wizard(login("alice")).start()
    wizard.upload(edit_two_rows(exported.content), "edited.xlsx")

    batch = wizard.batch()
    assert (batch.new_count, batch.update_count, batch.unchanged_count, batch.invalid_count) == (0, 2, 3, 0)
    preview = wizard.preview(status="update").content.decode()
    assert "6.5" in preview and "Hotline, evening" in preview

    wizard.to_confirm()
    wizard.confirm()
    after = values(five_entries.all())
    changed = [new for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 2
    assert Decimal("6.50") in [hours for _pk, hours, *_rest in changed]
    assert "Hotline, evening" in [note for _pk, _hours, _billable, _activity, note, _date in changed]


def test_an_untouched_export_uploads_as_all_unchanged(five_entries):
    content = workbook.export_workbook(get_spec(SPEC), five_entries)

    wizard = Wizard(login("alice")).start()
    wizard.upload(content, "untouched.xlsx")

    batch = wizard.batch()
    assert (batch.new_count, batch.update_count, batch.unchanged_count, batch.invalid_count) == (0, 0, 5, 0)


def test_the_export_keeps_formula_like_text_as_text_with_the_template_header(five_entries):
    sheet = load_workbook(io.BytesIO(workbook.export_workbook(get_spec(SPEC), five_entries))).worksheets[0]

    assert [cell.value for cell in sheet[1]] == HEADER
    assert sheet.cell(row=2, column=7).value == "=SUM(A1:A2)"
    assert sheet.cell(row=2, column=7).data_type == "s"
    assert sheet.cell(row=2, column=4).value == Decimal("7.25") or sheet.cell(row=2, column=4).value == 7.25
    assert sheet.freeze_panes == "A2"


def test_the_export_keeps_numbers_dates_and_the_templates_booleans(five_entries, workday):
    """Numbers are numbers (SUM adds them), dates are dates, booleans the words the template uses; text stays text."""
    sheet = load_workbook(io.BytesIO(workbook.export_workbook(get_spec(SPEC), five_entries))).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    hours = [sheet.cell(row=r, column=header.index("Hours") + 1) for r in range(2, 7)]
    assert all(c.data_type == "n" for c in hours)
    assert sum(Decimal(str(c.value)) for c in hours) == Decimal("21.75")
    dates = [sheet.cell(row=r, column=header.index("Date") + 1) for r in range(2, 7)]
    assert all(c.is_date and c.value.date() == workday for c in dates)
    billable = [sheet.cell(row=r, column=header.index("Billable") + 1).value for r in range(2, 7)]
    assert billable == ["yes", "no", "yes", "no", "yes"]
    projects = [sheet.cell(row=r, column=header.index("Project code") + 1) for r in range(2, 7)]
    assert all(c.data_type == "s" for c in projects)


def test_an_admin_export_opened_in_openpyxl_has_numeric_and_date_cells(five_entries):
    response = login("admin").post(
        reverse("admin:timesheets_entry_changelist"),
        {"action": "export_selected_as_spreadsheet", ACTION_CHECKBOX_NAME: [str(e.pk) for e in five_entries]},
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert sheet.cell(row=2, column=header.index("Hours") + 1).data_type == "n"
    assert sheet.cell(row=2, column=header.index("Date") + 1).is_date
    assert sheet.cell(row=2, column=header.index("Note") + 1).data_type == "s"


def test_the_export_looks_like_the_template_with_dropdowns_below_the_records(five_entries):
    book = load_workbook(io.BytesIO(workbook.export_workbook(get_spec(SPEC), five_entries)))
    sheet = book.worksheets[0]

    assert all(cell.font.bold for cell in sheet[1]) and not sheet.cell(row=2, column=1).font.bold
    assert sheet.max_row == 6 and sheet.column_dimensions["A"].width > 20
    [activity] = [dv for dv in sheet.data_validations.dataValidation if str(dv.sqref).startswith("F")]
    assert "Development" in activity.formula1
    assert str(activity.sqref) == f"F2:F{workbook.TEMPLATE_ROWS + 5}"  # every record, and the template's empty rows after them
    assert [row[0].value for row in book["Instructions"].iter_rows(min_row=2)][:2] == ["Employee email", "Date"]


def test_command_line_export_edit_and_import_updates_exactly_two(five_entries, tmp_path):
    exported = tmp_path / "entries.xlsx"
    call_command("bulkupload", "export", SPEC, "--user", "alice", "-o", str(exported), stdout=io.StringIO())
    edited = tmp_path / "edited.xlsx"
    edited.write_bytes(edit_two_rows(exported.read_bytes()))
    out = io.StringIO()

    call_command("bulkupload", "import", SPEC, str(edited), "--user", "alice", stdout=out, stderr=io.StringIO())

    assert out.getvalue().strip().endswith(": 0 created, 2 updated, 3 unchanged, 0 skipped.")


def test_the_german_template_has_a_german_sheet_name_and_german_number_examples(acme):
    from django.utils import translation

    with translation.override("de"):
        book = load_workbook(io.BytesIO(workbook.template_workbook(get_spec(SPEC))))
    assert book.worksheets[0].title == "Einträge"
    notes = book.worksheets[1]
    examples = {row[0].value: row[4].value for row in notes.iter_rows(min_row=2)}
    hours = next(value for label, value in examples.items() if label.startswith("Stunden"))
    assert hours == "7,5"
