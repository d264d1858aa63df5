"""The row estimate (progress bar, request or task) is within 10% of the rows the reader finds, or says it does not know (0)."""

from __future__ import annotations

import datetime
import io

import pytest
import xlsxwriter
from openpyxl import Workbook

from bulkupload.reading import Limits, open_table
from bulkupload.reading.estimate import estimate_rows

from .helpers import HEADER, csv_file


def data(count: int) -> list[list]:
    day = datetime.datetime(2024, 1, 1)
    return [[f"p{n % 40}@acme.example", day, f"P-{n % 9}", 7.5, "yes", "Admin", f"note {n}"] for n in range(count)]


def openpyxl_book(count: int, *, write_only: bool) -> bytes:
    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("Entries") if write_only else book.active
    sheet.append(HEADER)
    for row in data(count):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsxwriter_book(count: int, *, constant_memory: bool) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": constant_memory, "in_memory": not constant_memory})
    sheet = book.add_worksheet("Entries")
    sheet.write_row(0, 0, HEADER)
    for number, row in enumerate(data(count), start=1):
        sheet.write_row(number, 0, row)
    book.close()
    return buffer.getvalue()


def multiline_csv(count: int) -> bytes:
    rows = [[*row[:6], f"first line\nsecond line of {n}" if n % 2 else row[6]] for n, row in enumerate(data(count))]
    return csv_file(rows)


WRITERS = {
    "openpyxl": (lambda n: openpyxl_book(n, write_only=False), "xlsx"),
    "openpyxl write-only": (lambda n: openpyxl_book(n, write_only=True), "xlsx"),
    "xlsxwriter": (lambda n: xlsxwriter_book(n, constant_memory=False), "xlsx"),
    "xlsxwriter constant memory": (lambda n: xlsxwriter_book(n, constant_memory=True), "xlsx"),
    "csv": (lambda n: csv_file(data(n)), "csv"),
    "csv cp1252": (lambda n: csv_file(data(n), encoding="cp1252"), "csv"),
    "csv with line breaks in cells": (multiline_csv, "csv"),
    "csv without a last line break": (lambda n: csv_file(data(n)).rstrip(b"\r\n"), "csv"),
}


@pytest.mark.parametrize("count", [7, 3000])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_the_estimate_is_within_ten_percent_of_the_rows_read(writer, count):
    write, suffix = WRITERS[writer]
    content = write(count)
    table = open_table(io.BytesIO(content), name=f"entries.{suffix}", limits=Limits())
    read = sum(1 for _row in table.rows) + table.header_row  # the header's row and any above it, as the estimate counts
    assert read == count + 1
    estimate = estimate_rows(io.BytesIO(content), name=f"entries.{suffix}")
    assert abs(estimate - read) <= read / 10, (estimate, read)


def test_a_sheet_too_large_to_count_is_not_guessed(settings):
    content = openpyxl_book(3000, write_only=True)  # no declared size: its rows are counted as the part streams by
    assert estimate_rows(io.BytesIO(content), name="entries.xlsx") == 3001
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "MAX_UNPACKED_PART_SIZE": 100_000}
    assert estimate_rows(io.BytesIO(content), name="entries.xlsx") == 0  # does not know
