"""Open an uploaded file as a table: a header and a stream of rows of cell texts.

One entry, :func:`open_table`; one small module per format behind it. Every
guard against hostile or broken input lives in this package, and every failure
is a :class:`~bulkupload.exceptions.FileRejected` with a message for people.

The guards, in the order they run: the file's size; its format from its bytes
(:mod:`.sniff`); for a workbook, the zip's parts, their declared sizes and
compression (:mod:`.archive`) before anything is unpacked, then XML parsed only
through defusedxml (:mod:`.xlsx`); for CSV, the encoding and the delimiter
(:mod:`.text`). Rows are streamed, never sized from what the file declares, and
reading stops one row past ``Limits.max_rows``.
"""

from __future__ import annotations

import logging
from typing import IO, Protocol

from ..exceptions import FileRejected
from .budget import Budget
from .cells import cell_text
from .sniff import CSV, XLSX, identify, sniff_format
from .table import Limits, Table, build_table, check_file_size, data_rows, find_header, row_texts

__all__ = ["CSV", "XLSX", "Book", "FileRejected", "Limits", "Table", "cell_text", "list_sheets", "open_book", "open_table", "sniff_format"]
__all__ += ["build_table", "check_file_size", "data_rows", "find_header", "row_texts"]  # the shared table builder, now in .table
logger = logging.getLogger(__name__)


class Book(Protocol):
    """An opened file: its sheets (none for CSV) and a :class:`Table` of each, parsed once for all of them."""

    format: str
    #: The text encoding a CSV file was read in ("" for a workbook).
    encoding: str
    sheet_names: list[str]

    def table(self, sheet: str | None = None, *, closing: bool = False) -> Table: ...

    def value_rows(self, sheet: str | None) -> int: ...

    def close(self) -> None: ...


def open_book(fileobj: IO[bytes], *, name: str, limits: Limits | None = None) -> Book:
    """Open ``fileobj`` (binary, seekable) once: a workbook's extent is scanned and bounded before any reader allocates."""
    limits = limits or Limits()
    check_file_size(fileobj, name=name, limits=limits)
    budget = Budget.start(limits, name=name)
    book: Book
    if identify(fileobj, name=name) == XLSX:
        from .xlsx import XlsxBook

        book = XlsxBook(fileobj, name=name, limits=limits, budget=budget)
    else:
        from .text import CsvBook

        book = CsvBook(fileobj, name=name, limits=limits, budget=budget)
    # One per step: the file is checked (size, format, archive, extent) here, and every reading of the step uses this book.
    logger.debug("Opened and checked %s (%s)", name, book.format)
    return book


def open_table(fileobj: IO[bytes], *, name: str, limits: Limits | None = None, sheet: str | None = None) -> Table:
    """Open ``fileobj`` (binary, seekable) as a :class:`Table`; of a workbook, ``sheet`` or else the first worksheet."""
    book = open_book(fileobj, name=name, limits=limits)
    try:
        return book.table(sheet, closing=True)
    except BaseException:
        book.close()
        raise


def list_sheets(fileobj: IO[bytes], *, name: str) -> list[str]:
    """The worksheet names of a workbook, in order; ``[]`` for a CSV file."""
    book = open_book(fileobj, name=name)
    try:
        return list(book.sheet_names)
    finally:
        book.close()
