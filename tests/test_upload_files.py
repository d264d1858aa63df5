"""The files people actually upload: xlsx and CSV flavours, loose headers, and clear refusals at the upload step."""

import pytest

from bulkupload.models import UploadRow
from project.timesheets.models import Entry

from .helpers import HEADER, Wizard, csv_file, xlsx_file


@pytest.fixture
def cells(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [
        [e[0], workday.isoformat(), p[0], "7.5", "yes", "Development", "Größe & Café"],
        [e[1], workday.isoformat(), p[1], "4", "no", "Meeting", ""],
    ]


def staged_notes(wizard) -> list[str]:
    return list(UploadRow.objects.filter(batch_id=wizard.upload_id).order_by("row_number").values_list("values__note", flat=True))


@pytest.mark.parametrize(
    ("encoding", "delimiter", "name"),
    [("utf-8", ",", "plain.csv"), ("utf-8-sig", ";", "excel-de.csv"), ("cp1252", ";", "windows.csv"), ("utf-8", "\t", "tabs.csv")],
)
def test_csv_encodings_and_delimiters_are_detected(alice, acme, cells, encoding, delimiter, name):
    wizard = Wizard(alice).start()
    response = wizard.run(csv_file(cells, delimiter=delimiter, encoding=encoding), name)
    assert response.status_code == 302
    assert wizard.batch().created_count == 2
    assert Entry.objects.get(tenant=acme, hours=7.5).note == "Größe & Café"


def test_csv_with_decimal_commas_like_a_german_excel(alice, acme, cells):
    cells[0][3] = "7,5"
    wizard = Wizard(alice).start()
    wizard.run(csv_file(cells, delimiter=";"), "de.csv")
    assert str(Entry.objects.get(tenant=acme, note="Größe & Café").hours) == "7.50"


def test_headers_match_regardless_of_case_spaces_underscores_and_through_aliases(alice, cells):
    header = ["EMPLOYEE_EMAIL", "  date ", "Project", "hours", "BILLABLE", "activity", "note", "Comments from Bob"]
    wizard = Wizard(alice).start()
    response = wizard.upload(xlsx_file([[*row, "ignore me"] for row in cells], header=header))
    assert response.status_code == 302
    batch = wizard.batch()
    assert batch.new_count == 2
    assert batch.ignored_headers == ["Comments from Bob"]
    assert "Comments from Bob" in wizard.preview().content.decode()


def test_excel_typed_cells_are_read_as_people_see_them(alice, acme, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(alice).start()
    wizard.run(xlsx_file([[e[0], workday, p[0], 7.25, True, "Design", 42]]))
    entry = Entry.objects.get(tenant=acme)
    assert (entry.date, str(entry.hours), entry.billable, entry.note) == (workday, "7.25", True, "42")


def test_blank_rows_are_skipped_and_row_numbers_follow_the_file(alice, cells):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([cells[0], [None] * 7, cells[1]]))
    numbers = list(UploadRow.objects.filter(batch_id=wizard.upload_id).values_list("row_number", flat=True))
    assert numbers == [2, 4]


def upload_error(client, content: bytes, name: str) -> str:
    wizard = Wizard(client).start()
    response = wizard.upload(content, name)
    assert response.status_code == 200, "the upload step must show the problem"
    assert not UploadRow.objects.filter(batch_id=wizard.upload_id).exists()
    return " ".join(response.context["form"].errors["file"])


def test_a_missing_required_column_is_named(alice, cells):
    header = [h for h in HEADER if h != "Hours"]
    rows = [r[:3] + r[4:] for r in cells]
    message = upload_error(alice, csv_file(rows, header=header), "no-hours.csv")
    assert message == "The required column “Hours” is missing. (file “no-hours.csv”, row 1)"


def test_a_column_given_twice_is_named(alice, cells):
    message = upload_error(alice, csv_file([[*r, r[3]] for r in cells], header=[*HEADER, "hours"]), "twice.csv")
    assert message == "The column “hours” appears more than once. (file “twice.csv”, row 1)"


def test_an_empty_file_is_refused(alice, demo):
    assert upload_error(alice, b"", "empty.csv") == "The file is empty. (file “empty.csv”)"


def test_a_header_without_rows_is_refused(alice, demo):
    message = upload_error(alice, xlsx_file([]), "header-only.xlsx")
    assert message == "The file has a header but no data rows. (file “header-only.xlsx”, sheet “Entries”)"


def test_a_file_that_is_neither_xlsx_nor_csv_is_refused(alice, demo):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    message = upload_error(alice, png, "photo.xlsx")
    assert "neither an Excel workbook (.xlsx) nor a CSV" in message


def test_the_row_limit_is_configurable(alice, cells, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "MAX_ROWS": 1}
    message = upload_error(alice, csv_file(cells), "two-rows.csv")
    assert message == "The file has more than 1 data rows. Split it into smaller files. (file “two-rows.csv”, row 3)"


def test_the_file_size_limit_is_configurable(alice, cells, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "MAX_FILE_SIZE": 100}
    content = csv_file(cells)
    message = upload_error(alice, content, "big.csv")
    assert message == f"The file is {len(content)}\xa0bytes; at most 100\xa0bytes are allowed. (file “big.csv”)"


def test_a_refused_file_keeps_the_earlier_good_upload(alice, cells):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(cells), "good.csv")
    response = wizard.upload(b"", "empty.csv")
    assert response.status_code == 200
    batch = wizard.batch()
    assert (batch.file_name, batch.new_count) == ("good.csv", 2)
