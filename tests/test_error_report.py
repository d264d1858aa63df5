"""Fixing many errors in Excel: the invalid rows as .xlsx and back, and the preview's filters and jump to a row."""

import io
import zipfile

from django.urls import reverse
from openpyxl import load_workbook

from bulkupload.workbook import ERROR_FILL
from project.timesheets.models import Entry

from .helpers import HEADER, SPEC, Wizard, csv_file, xlsx_file

FORMULAS = ["=1+2", "+SUM(A1:A2)", "-3+4", "@cmd"]


def uploaded(client, people, day, extra_rows=()):
    e, p = people["emails"], people["codes"]
    rows = [
        [e[0], day, p[0], 7.5, "yes", "Development", "fine"],
        [e[1], day, p[1], 30, "no", "Meeting", "=1+2"],
        [e[2], day, "P-999", 4, "no", "Support", "+SUM(A1:A2)"],
        *extra_rows,
    ]
    wizard = Wizard(client).start()
    wizard.upload(csv_file(rows), "march.csv")  # CSV: "=1+2" arrives as the text a user typed
    return wizard


def report(client, wizard):
    response = client.get(reverse("bulkupload:error_report", kwargs={"spec": SPEC, "upload_id": wizard.upload_id}))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="march-errors.xlsx"'
    return response.content


def test_report_holds_the_invalid_rows_with_errors_highlights_and_comments(alice, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    sheet = load_workbook(io.BytesIO(report(alice, wizard))).worksheets[0]

    assert [c.value for c in sheet[1]] == [*HEADER, "Errors", "Row in your file"]
    assert sheet.max_row == 3  # the header and the two invalid rows
    hours, project = sheet.cell(row=2, column=4), sheet.cell(row=3, column=3)
    assert (hours.value, project.value) == ("30", "P-999")
    assert hours.fill.fgColor.rgb.endswith(ERROR_FILL.fgColor.rgb[-6:])
    assert hours.comment.text == "Hours must be at most 24."
    assert "Unknown project “P-999”." in project.comment.text
    assert sheet.cell(row=2, column=3).comment is None  # a good cell stays plain
    assert sheet.cell(row=2, column=8).value == "Hours: Hours must be at most 24."


def test_values_that_look_like_formulas_stay_text(alice, acme_people, workday):
    e = acme_people["emails"]
    extra = [[e[0], workday, "P-998", 1, "no", "Support", text] for text in FORMULAS]
    wizard = uploaded(alice, acme_people, workday, extra_rows=extra)
    content = report(alice, wizard)

    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    notes = [sheet.cell(row=r, column=7) for r in range(2, sheet.max_row + 1)]
    assert {n.value for n in notes} >= set(FORMULAS)
    assert all(n.data_type == "s" for n in notes)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml  # no formula anywhere


def test_fixed_report_uploads_again_cleanly(alice, acme, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    book = load_workbook(io.BytesIO(report(alice, wizard)))
    sheet = book.worksheets[0]
    sheet.cell(row=2, column=4).value = 3
    sheet.cell(row=3, column=3).value = acme_people["codes"][0]
    fixed = io.BytesIO()
    book.save(fixed)

    again = Wizard(alice).start()
    response = again.upload(fixed.getvalue(), "march-errors.xlsx")
    assert response["Location"].endswith("/preview/")  # the Errors column is ignored; no columns to choose
    batch = again.batch()
    assert (batch.new_count, batch.invalid_count, batch.ignored_headers) == (2, 0, ["Errors", "Row in your file"])
    assert batch.rows.get(row_number=2).values["note"] == "=1+2"
    again.to_confirm()
    again.confirm()
    assert Entry.objects.filter(tenant=acme).count() == 2


def test_report_keeps_the_users_own_headers(alice, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    header = ["E-mail", "Date", "Proj", "Hrs", "Activity"]
    wizard = Wizard(alice).start()
    wizard.upload(csv_file([[e[0], workday, p[0], 99, "Support"]], header=header), "own.csv")
    page = alice.get(wizard.url("columns"))
    form = page.context["wizard"]["form"]
    wizard.post_step("columns", {f"columns-col_{s.index}": s.proposed for s in form.suggestions})

    response = alice.get(reverse("bulkupload:error_report", kwargs={"spec": SPEC, "upload_id": wizard.upload_id}))
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == [*header, "Errors", "Row in your file"]
    assert sheet.cell(row=2, column=4).comment.text == "Hours must be at most 24."


def test_another_users_report_is_not_found(alice, bob, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    url = reverse("bulkupload:error_report", kwargs={"spec": SPEC, "upload_id": wizard.upload_id})
    assert bob.get(url).status_code == 404


def test_preview_links_to_the_report_only_with_invalid_rows(alice, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    assert "errors.xlsx" in wizard.preview().content.decode()
    e, p = acme_people["emails"], acme_people["codes"]
    clean = Wizard(alice).start()
    clean.upload(xlsx_file([[e[0], workday, p[0], 1, "yes", "Support", ""]]))
    assert "errors.xlsx" not in clean.preview().content.decode()


def test_preview_filters_show_only_invalid_rows_or_only_updates(alice, acme, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    first = Wizard(alice).start()
    first.run(xlsx_file([[e[0], workday, p[0], 1, "yes", "Support", ""]]))
    wizard = uploaded(alice, acme_people, workday)  # row 2 now updates the entry the first upload made

    def shown(**query):
        return [item["row"].row_number for item in wizard.preview(**query).context["rows"]]

    assert shown() == [2, 3, 4]
    assert shown(status="invalid") == [3, 4]
    assert shown(status="update") == [2]
    page = wizard.preview(status="invalid").content.decode()
    assert 'aria-current="true">Only invalid <span class="n">(2)</span>' in page


def test_jump_to_a_row_lands_on_its_page(alice, acme_people, workday, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "PREVIEW_PAGE_SIZE": 2}
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [[e[i % 3], workday, p[i % 2], 0.25 * (i + 1), "yes", "Support", f"n{i}"] for i in range(7)]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))

    response = wizard.preview(row="6")
    assert response.status_code == 302
    assert response["Location"].endswith("page=3&target=6#row-6")
    landed = alice.get(response["Location"])
    assert [item["row"].row_number for item in landed.context["rows"]] == [6, 7]
    assert 'class="status-new target" id="row-6"' in landed.content.decode()


def test_jump_to_a_row_hidden_by_the_filter_clears_the_filter(alice, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    response = wizard.preview(status="invalid", row="2")
    assert response["Location"].endswith("?page=1&target=2#row-2")


def test_jump_to_a_row_that_does_not_exist_says_so(alice, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    response = wizard.preview(row="999")
    page = alice.get(response["Location"]).content.decode()
    assert "There is no row 999 in this file." in page


def test_past_the_comment_limit_cells_stay_highlighted_and_the_errors_column_explains(alice, acme_people, workday, monkeypatch):
    from bulkupload import workbook

    monkeypatch.setattr(workbook, "ERROR_REPORT_MAX_COMMENTED_ROWS", 1)
    wizard = uploaded(alice, acme_people, workday)
    sheet = load_workbook(io.BytesIO(report(alice, wizard))).worksheets[0]
    first, second = sheet.cell(row=2, column=4), sheet.cell(row=3, column=3)
    assert first.comment is not None and second.comment is None
    assert second.fill.fgColor.rgb.endswith(ERROR_FILL.fgColor.rgb[-6:])
    assert "Unknown project “P-999”." in sheet.cell(row=3, column=8).value


def test_report_keeps_numbers_and_dates_typed_and_names_each_rows_place_in_the_file(alice, acme_people, workday):
    """SUM works on the hours, dates sort as dates, and "Row in your file" matches the numbers the messages use."""
    wizard = uploaded(alice, acme_people, workday)
    sheet = load_workbook(io.BytesIO(report(alice, wizard))).worksheets[0]
    header = [c.value for c in sheet[1]]
    where = header.index("Row in your file") + 1
    # The file's rows 3 and 4 (row 1 is the header) are the invalid ones.
    assert [sheet.cell(row=r, column=where).value for r in (2, 3)] == [3, 4]
    assert sheet.cell(row=2, column=where).data_type == "n"
    good_hours = sheet.cell(row=3, column=4)  # row 4's hours were fine, its project was not
    assert good_hours.value == 4 and good_hours.data_type == "n"
    day = sheet.cell(row=3, column=2)
    assert day.is_date and day.value.date() == workday
    # A cell that was wrong stays as the user typed it, to be fixed.
    assert sheet.cell(row=2, column=4).value == "30" and sheet.cell(row=2, column=4).data_type == "s"


def test_report_carries_the_templates_dropdowns(alice, acme_people, workday):
    wizard = uploaded(alice, acme_people, workday)
    sheet = load_workbook(io.BytesIO(report(alice, wizard))).worksheets[0]
    activity = [dv for dv in sheet.data_validations.dataValidation if str(dv.sqref).startswith("F")]
    assert activity and "Development" in activity[0].formula1
    assert str(activity[0].sqref) == "F2:F3"
