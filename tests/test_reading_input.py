"""Issue 11, reading side, through the real wizard: CSV encodings without silent mojibake, the plan kept with the
upload instead of the file being read again, and no 500 from a file's content."""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from openpyxl import load_workbook

from bulkupload.models import UploadBatch
from project.timesheets.models import Entry

from .helpers import HEADER, Wizard, csv_file, xlsx_file
from .hostile import fuzz_bounded, rezip, write

RENAMED = ["E-mail", "Date", "Proj", "Hrs", "Billable", "Activity", "Note"]


@pytest.fixture
def cells(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    return [
        [e[0], workday.isoformat(), p[0], "7.5", "yes", "Development", "Größe & Café"],
        [e[1], workday.isoformat(), p[1], "4", "no", "Meeting", "Crème brûlée"],
    ]


# --- encodings -------------------------------------------------------------------------------------------


def test_a_utf8_csv_is_read_as_utf8_and_the_preview_says_so(alice, acme, cells):
    wizard = Wizard(alice).start()
    assert wizard.upload(csv_file(cells), "utf8.csv")["Location"].endswith("/preview/")
    assert wizard.batch().encoding == "utf-8"
    assert "Text read as UTF-8." in wizard.preview().content.decode()


def test_a_windows_1252_csv_is_read_whole_in_the_fallback_and_the_preview_says_so(alice, acme, cells):
    wizard = Wizard(alice).start()
    assert wizard.upload(csv_file(cells, delimiter=";", encoding="cp1252"), "windows.csv")["Location"].endswith("/preview/")
    assert wizard.batch().encoding == "cp1252"
    assert "Text read as Windows-1252." in wizard.preview().content.decode()
    wizard.to_confirm()
    assert wizard.confirm().status_code == 302
    assert sorted(Entry.objects.filter(tenant=acme).values_list("note", flat=True)) == ["Crème brûlée", "Größe & Café"]


def test_a_utf8_csv_with_one_stray_byte_is_refused_naming_its_line_and_byte(alice, cells):
    content = csv_file(cells).replace("Crème".encode(), b"Cr\xe8me")  # one letter saved in another encoding
    wizard = Wizard(alice).start()
    response = wizard.upload(content, "mixed.csv")
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "The file is UTF-8 text except for one byte: line 3 has the byte 0xE8 at position "
        f"{content.split(b'\r\n')[2].index(b'\xe8') + 1}, which is not UTF-8. Save the file as CSV UTF-8 and upload again. "
        "(file “mixed.csv”)"
    ]
    batch = wizard.batch()
    assert (batch.status, batch.rows.count(), Entry.objects.filter(note__contains="Ã").count()) == (UploadBatch.Status.DRAFT, 0, 0)


def test_an_xlsx_upload_has_no_text_encoding_to_show(alice, cells):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(cells))
    assert wizard.batch().encoding == ""
    assert "Text read as" not in wizard.preview().content.decode()


# --- the plan, kept with the upload -------------------------------------------------------------------------


def test_the_columns_step_renders_from_the_kept_plan_without_the_file(alice, cells):
    wizard = Wizard(alice).start()
    assert wizard.upload(csv_file(cells, header=RENAMED), "mine.csv")["Location"].endswith("/columns/")
    batch = wizard.batch()
    assert batch.plan["sheets"][0]["header"] == RENAMED
    batch.source_file.storage.delete(batch.source_file.name)  # reading the file again now fails

    page = alice.get(wizard.url("columns"))
    assert page.status_code == 200
    form = page.context["wizard"]["form"]
    assert form.read_error == ""
    assert [s.header for s in form.suggestions] == RENAMED
    assert {s.header: s.proposed for s in form.suggestions}["Hrs"] == "hours"
    assert "Größe &amp; Café" in page.content.decode()  # the samples come from the plan too


def test_choosing_another_sheet_comes_from_the_plan(alice, cells):
    book = load_workbook(io.BytesIO(xlsx_file(cells, header=RENAMED, sheet_title="March")))
    april = book.create_sheet("April")
    for line in ([h.upper() for h in RENAMED], cells[1]):
        april.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    wizard = Wizard(alice).start()
    assert wizard.upload(buffer.getvalue())["Location"].endswith("/columns/")
    batch = wizard.batch()
    batch.source_file.storage.delete(batch.source_file.name)

    page = alice.get(wizard.url("columns"), {"sheet": "April"})
    form = page.context["wizard"]["form"]
    assert (form.plan.sheet, [s.header for s in form.suggestions]) == ("April", [h.upper() for h in RENAMED])


def test_a_large_file_is_sent_to_a_worker_by_the_rows_the_plan_counted(alice, settings, cells):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 3}
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(cells * 3))
    batch = wizard.batch()
    assert batch.plan["sheets"][0]["rows"] == 7  # the header and six rows, counted by the scan
    assert batch.task_id  # staged by the task (the immediate backend runs it at once)


# --- no 500 from a file's content ---------------------------------------------------------------------------


def corrupt_content_types(book: bytes) -> bytes:
    """``book`` with the deflate stream of ``[Content_Types].xml`` damaged (its directory entries intact)."""
    data = bytearray(book)
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        info = archive.getinfo("[Content_Types].xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 2, start + min(info.compress_size, 40)):
        data[offset] ^= 0x5A
    return bytes(data)


def test_a_corrupt_deflate_stream_in_the_content_types_is_a_clear_refusal(alice, cells):
    wizard = Wizard(alice).start()
    response = wizard.upload(corrupt_content_types(xlsx_file(cells)), "corrupt.xlsx")
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "This file looks like a workbook but is damaged and cannot be opened. (file “corrupt.xlsx”)"
    ]


def test_a_sheet_name_excel_forbids_in_a_new_sheet_still_gives_an_error_report(alice, cells):
    cells[0][3] = "lots"
    book = xlsx_file(cells, sheet_title="abc")
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        workbook_xml = archive.read("xl/workbook.xml").replace(b'name="abc"', b'name="a/b:c*?[x]"')
    wizard = Wizard(alice).start()
    assert wizard.upload(rezip(book, replace={"xl/workbook.xml": workbook_xml}))["Location"].endswith("/preview/")
    assert wizard.batch().sheet_name == "a/b:c*?[x]"

    response = alice.get(f"/uploads/timesheet-entries/{wizard.upload_id}/errors.xlsx")
    assert response.status_code == 200
    report = load_workbook(io.BytesIO(b"".join(response.streaming_content if response.streaming else [response.content])))
    assert report.sheetnames == ["a_b_c___x_"]
    assert [c.value for c in report.active[1]][:7] == HEADER


def test_x0000_in_a_cell_is_kept_as_written_never_a_nul(alice, cells):
    # python-calamine turned _x0000_ into a NUL that no PostgreSQL text column stores (DataError, a 500); the streaming
    # reader reads the cell's text as openpyxl does, so it is stored and shown as written.
    cells[1][6] = "before_x0000_after"
    wizard = Wizard(alice).start()
    response = wizard.upload(xlsx_file(cells), "nul.xlsx")
    assert response.status_code == 302
    row = wizard.batch().rows.get(row_number=3)
    assert row.values["note"] == "before_x0000_after"


def test_hundreds_of_mutated_workbooks_are_each_read_or_refused(tmp_path, cells):
    """Bytes flipped, cut or repeated anywhere in a workbook: the reader answers with rows or a FileRejected, never
    another exception (run in a capped subprocess: a reader that aborts or balloons fails the test)."""
    original = xlsx_file(cells * 5)
    randomness = random.Random(11)
    for number in range(300):
        data = bytearray(original)
        for _ in range(randomness.randint(1, 8)):
            position = randomness.randrange(len(data))
            kind = randomness.random()
            if kind < 0.6:
                data[position] ^= 1 << randomness.randrange(8)
            elif kind < 0.8:
                del data[position : position + randomness.randint(1, 64)]
            else:
                data[position:position] = data[position : position + randomness.randint(1, 64)]
        write(tmp_path, f"fuzz-{number:03d}.xlsx", bytes(data))
    result = fuzz_bounded(tmp_path)
    assert result["escaped"] == []
    assert result["read"] + result["refused"] == 300 and result["refused"] > 100
