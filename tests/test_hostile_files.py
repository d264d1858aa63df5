"""Hostile and mistaken files: each is built small on disk, read in a subprocess capped in memory and CPU,
and answered with one exact message naming the file (and sheet, row, column where known)."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from bulkupload.models import UploadBatch

from .helpers import HEADER, Wizard, csv_file, xlsx_file
from .hostile import (
    declare_smaller,
    header_row_xml,
    inline,
    ole_file,
    read_bounded,
    rezip,
    sheet_xml,
    workbook_with_sheet,
    write,
    zip_of,
)

ROW = ["ada@acme.example", "2026-11-02", "P-001", "7.5", "yes", "Development", "ok"]
SHARED_STRINGS_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
XML_2003 = "an XML file (perhaps an Excel 2003 XML spreadsheet)"
NOT_A_SPREADSHEET = "neither an Excel workbook (.xlsx) nor a CSV text file. Save it as .xlsx or .csv and upload again."


def rejected(tmp_path, name: str, content: bytes, **settings) -> str:
    result = read_bounded(write(tmp_path, name, content), **settings)
    assert "rejected" in result, result
    return result["rejected"]


# --- the format comes from the bytes, not the name -------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"", b"\xef\xbb\xbf", b"\r\n  \r\n", b"\xff\xfe"], ids=["zero-bytes", "bom-only", "blank-lines", "utf16-bom"]
)
def test_an_empty_file_is_refused(tmp_path, content):
    assert rejected(tmp_path, "empty.csv", content) == "The file is empty. (file “empty.csv”)"


def test_a_legacy_xls_workbook_is_refused_by_name(tmp_path):
    assert rejected(tmp_path, "old.xls", ole_file("Workbook", "\x05SummaryInformation")) == (
        "This is an old Excel workbook (.xls). Save it as an Excel workbook (.xlsx) or CSV and upload again. (file “old.xls”)"
    )


def test_a_password_protected_workbook_is_refused_whatever_its_name(tmp_path):
    assert rejected(tmp_path, "entries.xlsx", ole_file("EncryptionInfo", "EncryptedPackage")) == (
        "This workbook is protected with a password. Remove the password in Excel, save it, and upload it again. (file “entries.xlsx”)"
    )


def test_an_old_word_document_is_not_taken_for_a_workbook(tmp_path):
    assert rejected(tmp_path, "letter.xlsx", ole_file("WordDocument")) == (
        f"This is an old Microsoft Office document (.doc, .ppt or similar), {NOT_A_SPREADSHEET} (file “letter.xlsx”)"
    )


MACROS = "Workbooks with macros are not accepted. Save it as a plain Excel workbook (.xlsx) and upload again. (file “entries.xlsx”)"


def test_a_macro_enabled_workbook_is_refused_even_when_called_xlsx(tmp_path):
    content = rezip(xlsx_file([ROW]), add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 macro"})
    assert rejected(tmp_path, "entries.xlsx", content) == MACROS


def test_a_workbook_declaring_macro_content_is_refused(tmp_path):
    book = xlsx_file([ROW])
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        types = archive.read("[Content_Types].xml").replace(b"sheet.main+xml", b"sheet.macroEnabled.main+xml")
    assert rejected(tmp_path, "entries.xlsx", rezip(book, replace={"[Content_Types].xml": types})) == MACROS


def test_an_excel_4_macro_sheet_is_refused(tmp_path):
    content = rezip(xlsx_file([ROW]), add={"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"})
    assert rejected(tmp_path, "entries.xlsx", content) == MACROS


def test_a_binary_xlsb_workbook_is_refused(tmp_path):
    content = zip_of({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x83\x01\x00"})
    assert rejected(tmp_path, "entries.xlsb", content) == (
        "Binary Excel workbooks (.xlsb) are not accepted. Save it as an Excel workbook (.xlsx) and upload again. (file “entries.xlsb”)"
    )


def test_an_opendocument_spreadsheet_is_refused_with_its_name(tmp_path):
    content = zip_of({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<office:document-content/>"})
    assert rejected(tmp_path, "entries.xlsx", content) == (
        "This is an OpenDocument spreadsheet (.ods). Save it as .xlsx or .csv and upload again. (file “entries.xlsx”)"
    )


def test_a_word_document_in_zip_form_is_not_a_workbook(tmp_path):
    content = zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    assert rejected(tmp_path, "entries.xlsx", content) == f"This is a Word document (.docx), {NOT_A_SPREADSHEET} (file “entries.xlsx”)"


def test_any_other_zip_file_is_refused(tmp_path):
    assert rejected(tmp_path, "entries.xlsx", zip_of({"notes.txt": b"hello"})) == (
        "This zip file is not an Excel workbook (.xlsx). (file “entries.xlsx”)"
    )


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "an image (PNG)"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "an image (JPEG)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\xef\xbb\xbf\r\n<!DOCTYPE html><html><body><table><tr><td>1</td></tr></table>", "a web page (HTML)"),
        (b"<table><tr><td>Employee email</td></tr></table>", "a web page (HTML)"),
        (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>',
            "an XML file (perhaps an Excel 2003 XML spreadsheet)",
        ),
        (b"{\\rtf1\\ansi Employee email}", "a Rich Text document (RTF)"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "a compressed archive (gzip)"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "a program (Windows executable)"),
    ],
    ids=["png", "jpeg", "pdf", "html", "html-table", "xml-2003", "rtf", "gzip", "exe"],
)
def test_images_web_pages_and_other_documents_are_named_for_what_they_are(tmp_path, content, kind):
    assert rejected(tmp_path, "entries.xlsx", content) == f"This is {kind}, {NOT_A_SPREADSHEET} (file “entries.xlsx”)"


def test_binary_junk_is_neither_workbook_nor_csv(tmp_path):
    assert rejected(tmp_path, "entries.csv", b"\x00\x01\x02\x03junk\x00\xff" * 10) == (
        "This file is neither an Excel workbook (.xlsx) nor a CSV text file. (file “entries.csv”)"
    )


# --- zip bombs: declared sizes and ratios checked before anything is unpacked ------------------------


def test_a_part_that_unpacks_beyond_the_limit_is_refused_without_unpacking_it(tmp_path):
    # 160 MB of XML whitespace, about 160 KB packed: a reader that unpacked it would not fit in 256 MB.
    bomb = sheet_xml(header_row_xml()).replace(b"<sheetData>", b"<sheetData>" + b" " * (160 << 20))
    content = rezip(xlsx_file([], header=["x"]), replace={"xl/worksheets/sheet1.xml": bomb})
    assert rejected(tmp_path, "bomb.xlsx", content) == (
        "A part of the workbook (xl/worksheets/sheet1.xml) unpacks to 160.0\xa0MB; at most 150.0\xa0MB are allowed. (file “bomb.xlsx”)"
    )


def test_a_part_compressed_far_more_than_any_spreadsheet_is_refused(tmp_path):
    bomb = sheet_xml(header_row_xml()).replace(b"<sheetData>", b"<sheetData>" + b" " * (4 << 20))
    content = rezip(xlsx_file([], header=["x"]), replace={"xl/worksheets/sheet1.xml": bomb})
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    ratio = info.file_size // info.compress_size
    assert ratio > 100
    assert rejected(tmp_path, "bomb.xlsx", content) == (
        f"A part of the workbook (xl/worksheets/sheet1.xml) is compressed {ratio} to 1, far more than any spreadsheet; "
        "it is refused as unsafe. (file “bomb.xlsx”)"
    )


def test_shared_strings_held_in_memory_have_their_own_cap(tmp_path):
    book = xlsx_file([ROW])
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        types = archive.read("[Content_Types].xml").replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
    strings = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + b"<si><t>x</t></si>" * 400 + b"</sst>"
    content = rezip(book, replace={"[Content_Types].xml": types}, add={"xl/sharedStrings.xml": strings})
    assert rejected(tmp_path, "strings.xlsx", content, MAX_SHARED_STRINGS_SIZE=5000) == (
        "A part of the workbook (xl/sharedStrings.xml) unpacks to 6.7\xa0KB; at most 4.9\xa0KB are allowed. (file “strings.xlsx”)"
    )


def test_the_total_unpacked_size_is_capped_by_a_setting(tmp_path):
    content = xlsx_file([ROW] * 20)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        total = sum(info.file_size for info in archive.infolist())
    from django.template.defaultfilters import filesizeformat

    assert rejected(tmp_path, "big.xlsx", content, MAX_UNPACKED_SIZE=5000) == (
        f"The workbook unpacks to {filesizeformat(total)}; at most {filesizeformat(5000)} are allowed. (file “big.xlsx”)"
    )


def test_a_workbook_with_too_many_parts_is_refused(tmp_path):
    content = rezip(xlsx_file([ROW]), add={f"customXml/item{i}.xml": b"<x/>" for i in range(30)})
    parts = len(zipfile.ZipFile(io.BytesIO(content)).infolist())
    assert (
        rejected(tmp_path, "parts.xlsx", content, MAX_ZIP_PARTS=20)
        == f"The workbook has {parts} parts; at most 20 are allowed. (file “parts.xlsx”)"
    )


def test_a_zip_that_lies_about_a_parts_size_is_read_no_further_than_declared(tmp_path):
    rows = header_row_xml() + "".join(f'<row r="{n}">{inline(f"A{n}", "x" * 200)}</row>' for n in range(2, 20_000))
    content = declare_smaller(workbook_with_sheet(rows), "xl/worksheets/sheet1.xml", 2000)
    assert rejected(tmp_path, "liar.xlsx", content, memory_mb=256) == (
        "This file looks like a workbook but is damaged and cannot be opened. (file “liar.xlsx”)"
    )


# --- XML attacks: defusedxml refuses entities; no local file is ever read ----------------------------

UNSAFE = "The workbook contains XML entity declarations or external references, which are not allowed; it is refused as unsafe."


def test_openpyxl_parses_through_defusedxml():
    assert openpyxl.DEFUSEDXML is True


def test_entity_expansion_in_a_sheet_is_refused_as_unsafe(tmp_path):
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doctype = f'<!DOCTYPE worksheet [<!ENTITY l0 "lol">{laughs}]>'
    content = workbook_with_sheet(header_row_xml() + f'<row r="2">{inline("A2", "&l9;")}</row>', doctype=doctype)
    assert rejected(tmp_path, "laughs.xlsx", content) == f"{UNSAFE} (file “laughs.xlsx”, sheet “Entries”)"


def test_an_external_entity_never_reads_a_local_file(tmp_path):
    secret = write(tmp_path, "secret.txt", b"TOP-SECRET-42")
    doctype = f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    content = workbook_with_sheet(header_row_xml() + f'<row r="2">{inline("A2", "&xxe;")}</row>', doctype=doctype)
    result = read_bounded(write(tmp_path, "xxe.xlsx", content))
    assert result == {"rejected": f"{UNSAFE} (file “xxe.xlsx”, sheet “Entries”)", "peak_mb": result["peak_mb"]}
    assert "TOP-SECRET-42" not in str(result)


def test_entities_in_the_workbook_part_are_refused_before_any_sheet_is_read(tmp_path):
    book = xlsx_file([ROW])
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        workbook_xml = archive.read("xl/workbook.xml")
    hostile = b'<!DOCTYPE workbook [<!ENTITY x "y">]>' + workbook_xml
    assert rejected(tmp_path, "entries.xlsx", rezip(book, replace={"xl/workbook.xml": hostile})) == f"{UNSAFE} (file “entries.xlsx”)"


# --- declared dimensions, far rows and wide rows: streamed, counted, never trusted -------------------


def test_a_sheet_claiming_a_million_rows_reads_only_the_rows_it_has(tmp_path):
    rows = header_row_xml() + "".join(f'<row r="{n}">{inline(f"A{n}", f"row {n}")}</row>' for n in (2, 3, 4))
    result = read_bounded(write(tmp_path, "claims.xlsx", workbook_with_sheet(rows, dimension="A1:XFD1048576")))
    assert (result["header"], result["rows"]) == (HEADER, 3)


def test_a_sheet_claiming_a_single_cell_still_reads_every_row(tmp_path):
    rows = header_row_xml() + "".join(f'<row r="{n}">{inline(f"A{n}", f"row {n}")}</row>' for n in range(2, 12))
    result = read_bounded(write(tmp_path, "small-claim.xlsx", workbook_with_sheet(rows, dimension="A1")))
    assert result["rows"] == 10


def test_a_stray_cell_on_excels_last_row_is_refused_below_the_blank_run_that_ends_the_table(tmp_path):
    rows = header_row_xml() + f'<row r="2">{inline("A2", "first")}</row><row r="1048576">{inline("A1048576", "last")}</row>'
    assert rejected(tmp_path, "far.xlsx", workbook_with_sheet(rows), memory_mb=256, cpu_seconds=10) == (
        "Row 1048576 has values below 1048573 blank rows; a run of more than 1000 blank rows ends the table at row 2. "
        "Delete what is below the table, or the blank rows, and upload again. (file “far.xlsx”, sheet “Entries”, row 1048576)"
    )


def test_two_hundred_thousand_styled_empty_rows_reaching_the_last_column_stay_small(tmp_path):
    # Each row has one empty styled cell in column XFD: padding rows to that width would cost gigabytes.
    styled = "".join(f'<row r="{n}"><c r="XFD{n}" s="1"/></row>' for n in range(3, 200_003))
    rows = header_row_xml() + f'<row r="2">{inline("A2", "x")}</row>' + styled
    result = read_bounded(write(tmp_path, "styled.xlsx", workbook_with_sheet(rows)))
    assert result["rows"] == 1
    assert result["peak_mb"] < 256


def test_a_row_number_beyond_excels_last_row_is_damage(tmp_path):
    rows = header_row_xml() + f'<row r="99999999">{inline("A99999999", "x")}</row>'
    assert rejected(tmp_path, "beyond.xlsx", workbook_with_sheet(rows)) == (
        "The sheet is damaged: its rows are out of order or beyond Excel's last row. (file “beyond.xlsx”, sheet “Entries”, row 99999999)"
    )


def test_rows_out_of_order_are_damage_not_silently_merged(tmp_path):
    rows = header_row_xml() + f'<row r="5">{inline("A5", "x")}</row><row r="3">{inline("A3", "y")}</row>'
    assert rejected(tmp_path, "order.xlsx", workbook_with_sheet(rows)) == (
        "The sheet is damaged: its rows are out of order or beyond Excel's last row. (file “order.xlsx”, sheet “Entries”, row 3)"
    )


def test_broken_xml_in_a_sheet_is_damage(tmp_path):
    content = rezip(xlsx_file([ROW]), replace={"xl/worksheets/sheet1.xml": sheet_xml(header_row_xml())[:-40]})
    assert (
        rejected(tmp_path, "broken.xlsx", content)
        == "The sheet is damaged and cannot be read past this point. (file “broken.xlsx”, sheet “Entries”)"
    )


def test_reading_stops_one_row_past_the_row_limit(tmp_path):
    assert rejected(tmp_path, "many.xlsx", xlsx_file([ROW] * 50), MAX_ROWS=5) == (
        "The file has more than 5 data rows. Split it into smaller files. (file “many.xlsx”, sheet “Entries”, row 7)"
    )
    assert rejected(tmp_path, "many.csv", csv_file([ROW] * 50), MAX_ROWS=5) == (
        "The file has more than 5 data rows. Split it into smaller files. (file “many.csv”, row 7)"
    )


def test_a_value_beyond_the_column_limit_is_refused_at_its_row(tmp_path):
    rows = header_row_xml() + f'<row r="2">{inline("A2", "a")}{inline("XFD2", "far away")}</row>'
    assert rejected(tmp_path, "wide.xlsx", workbook_with_sheet(rows)) == (
        "This row has a value in column XFD; at most 200 columns are allowed. (file “wide.xlsx”, sheet “Entries”, row 2)"
    )


def test_a_csv_header_wider_than_the_column_limit_is_refused(tmp_path):
    assert rejected(tmp_path, "wide.csv", csv_file([], header=[f"c{i}" for i in range(12)]), MAX_COLUMNS=10) == (
        "The file has 12 columns; at most 10 are allowed. (file “wide.csv”, row 1)"
    )


def test_an_overlong_cell_is_refused_naming_its_column(tmp_path):
    row = [*ROW[:6], "n" * 101]
    assert rejected(tmp_path, "long.xlsx", xlsx_file([ROW, row]), MAX_CELL_LENGTH=100) == (
        "A cell holds 101 characters; at most 100 are allowed. (file “long.xlsx”, sheet “Entries”, row 3, column “Note”)"
    )


def test_merged_cells_over_the_table_are_named(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Entries"
    for row in (HEADER, ROW, ROW):
        sheet.append(row)
    sheet.merge_cells("B2:B3")
    path = tmp_path / "merged.xlsx"
    book.save(path)
    assert read_bounded(path)["rejected"] == (
        "Cells B2:B3 are merged. A merged cell keeps its value in its first cell only and hides the others; "
        "unmerge them and fill in every cell. (file “merged.xlsx”, sheet “Entries”, row 2, column “B”)"
    )


# --- CSV -------------------------------------------------------------------------------------------


def test_an_unclosed_quote_swallowing_the_file_is_a_clear_message(tmp_path):
    content = csv_file([ROW]) + b'"never closed,' + b"x" * 140_000
    assert rejected(tmp_path, "quote.csv", content) == (
        'A cell holds more than 131072 characters; at most 10000 are allowed. A quote (") may not be closed. (file “quote.csv”, row 3)'
    )


def test_nul_bytes_in_a_csv_are_refused(tmp_path):
    content = csv_file([ROW] * 100) + b"a,b\x00c\r\n"
    assert rejected(tmp_path, "nul.csv", content) == "The file contains NUL bytes; it is not a CSV text file. (file “nul.csv”)"


def test_text_that_is_neither_utf8_nor_the_fallback_is_refused(tmp_path):
    content = csv_file([ROW]) + b"\x81\x8d\x8f\x90\x9d\r\n"
    assert rejected(tmp_path, "mojibake.csv", content) == (
        "The file's text is neither UTF-8 nor Windows-1252: line 3 has the byte 0x81 at position 1. "
        "Save it as CSV UTF-8 and upload again. (file “mojibake.csv”)"
    )


# --- through the upload step: the message at the file field, nothing staged -----------------------


def test_a_hostile_file_answers_at_the_upload_step_and_stages_nothing(alice, tmp_path):
    wizard = Wizard(alice).start()
    response = wizard.upload(rezip(xlsx_file([ROW]), add={"xl/vbaProject.bin": b"macro"}), "entries.xlsx")
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [MACROS]
    batch = wizard.batch()
    assert (batch.status, batch.rows.count(), batch.source_file.name) == (UploadBatch.Status.DRAFT, 0, "")
