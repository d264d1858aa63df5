"""Open an uploaded file as a table: a header and a stream of rows of cell texts.

One entry, :func:`open_table`; one small module per format behind it. Every
guard against hostile or broken input lives in this package, and every failure
is a :class:`~bulkupload.exceptions.FileRejected` with a message for people.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.utils.translation import gettext as _

from .. import conf
from ..exceptions import FileRejected
from .cells import cell_text

__all__ = ["FileRejected", "Limits", "Table", "cell_text", "list_sheets", "open_table", "sniff_format"]


@dataclass(frozen=True)
class Limits:
    """What a file may contain before it is refused; defaults from settings."""

    max_rows: int = field(default_factory=lambda: conf.get("MAX_ROWS"))
    max_columns: int = field(default_factory=lambda: conf.get("MAX_COLUMNS"))
    max_cell_length: int = field(default_factory=lambda: conf.get("MAX_CELL_LENGTH"))
    header_search_rows: int = 10


@dataclass
class Table:
    """A header and the data rows below it.

    ``rows`` yields ``(row_number, cells)``: the 1-based row number in the file and
    the cell texts aligned with ``header`` (blank cells are ``""``). Blank rows are
    skipped; reading stops with :class:`FileRejected` past ``Limits.max_rows``.
    """

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    file_name: str
    header_row: int = 1
    sheet: str | None = None
    format: str = ""


XLSX, CSV = "xlsx", "csv"


def sniff_format(head: bytes) -> str:
    """The format from the file's first bytes, not its name."""
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected(_("This is an old Excel (.xls) or password-protected workbook. Save it as .xlsx or .csv and upload again."))
    if not head.strip(b"\xef\xbb\xbf\r\n\t "):
        raise FileRejected(_("The file is empty."))
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(_("This file is neither an Excel workbook (.xlsx) nor a CSV text file."))
    return CSV


def open_table(fileobj: IO[bytes], *, name: str, limits: Limits | None = None, sheet: str | None = None) -> Table:
    """Open ``fileobj`` (binary, seekable) as a :class:`Table`; of a workbook, ``sheet`` or else the first sheet."""
    limits = limits or Limits()
    fileobj.seek(0)
    head = fileobj.read(2048)
    fileobj.seek(0)
    try:
        kind = sniff_format(head)
    except FileRejected as exc:
        exc.file = name
        raise
    if kind == XLSX:
        from .xlsx import open_xlsx

        return open_xlsx(fileobj, name=name, limits=limits, sheet=sheet)
    from .text import open_csv

    return open_csv(fileobj, name=name, limits=limits)


def list_sheets(fileobj: IO[bytes], *, name: str) -> list[str]:
    """The worksheet names of a workbook, in order; ``[]`` for a CSV file."""
    fileobj.seek(0)
    head = fileobj.read(2048)
    fileobj.seek(0)
    try:
        kind = sniff_format(head)
    except FileRejected as exc:
        exc.file = name
        raise
    if kind != XLSX:
        return []
    from .xlsx import sheet_names

    return sheet_names(fileobj, name=name)


def find_header(rows: Iterator[tuple[int, list[str]]], *, limits: Limits, name: str, sheet: str | None = None) -> tuple[int, list[str]]:
    """The first non-blank row is the header."""
    for row_number, cells in rows:
        if any(cells):
            if len(cells) > limits.max_columns:
                raise FileRejected(
                    _("The file has %(count)d columns; at most %(limit)d are allowed.")
                    % {"count": len(cells), "limit": limits.max_columns},
                    file=name,
                    sheet=sheet,
                    row=row_number,
                )
            return row_number, cells
    raise FileRejected(_("The file has no header row and no data."), file=name, sheet=sheet)


def data_rows(
    rows: Iterator[tuple[int, list[str]]], *, width: int, limits: Limits, name: str, header: list[str], sheet: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Rows below the header, aligned to ``width``; blank rows skipped, limits enforced."""
    count = 0
    for row_number, cells in rows:
        if not any(cells):
            continue
        if len(cells) > width:
            extra = cells[width:]
            if any(extra):
                raise FileRejected(
                    _("This row has values beyond the last header column."),
                    file=name,
                    sheet=sheet,
                    row=row_number,
                )
            cells = cells[:width]
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        for index, text in enumerate(cells):
            if len(text) > limits.max_cell_length:
                raise FileRejected(
                    _("A cell holds %(length)d characters; at most %(limit)d are allowed.")
                    % {"length": len(text), "limit": limits.max_cell_length},
                    file=name,
                    sheet=sheet,
                    row=row_number,
                    column=header[index] or None,
                )
        count += 1
        if count > limits.max_rows:
            raise FileRejected(
                _("The file has more than %(limit)d data rows. Split it into smaller files.") % {"limit": limits.max_rows},
                file=name,
                sheet=sheet,
                row=row_number,
            )
        yield row_number, cells
