"""Plain .xlsx data read with python-calamine (Rust): the same cell texts as the openpyxl reader, 20–40× faster.

Only workbooks that hold nothing but values take this path: no formulas, no
error cells, no merged cells, no ISO-date cells, no DTD anywhere. Anything else,
a workbook calamine cannot open, or python-calamine not installed, returns None
and the openpyxl reader (:mod:`.xlsx`) reads the file and says what is wrong
with it. ``bench/calamine_check.py`` compares both readers on every workbook
the test suite writes.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from openpyxl.utils import column_index_from_string

from .. import conf
from . import XLSX, Limits, Table, build_table, row_texts
from .archive import check_archive
from .cells import cell_text

#: What only the openpyxl reader handles: a DTD or entity in any part; formulas, merged, error and ISO-date cells in a sheet.
NOT_PLAIN = (
    re.compile(rb"<!(?!\[CDATA\[)"),
    re.compile(rb"<(?:\w+:)?(?:f|mergeCell)[\s>/]"),
    re.compile(rb"t\s*=\s*[\"'][ed][\"']"),
)
# The closing quote matters: a number cut at the end of a block must not match.
ROW_NUMBER = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr\s*=\s*[\"'](\d{1,8})[\"']")
#: Cells from column AA on: a stray cell far to the right would make calamine's sheet huge.
WIDE_CELL = re.compile(rb"\sr\s*=\s*[\"']([A-Z]{2,3})\d")
OVERLAP = 256
_plain_seen: dict[tuple, bool] = {}


def open_plain_sheet(fileobj: IO[bytes], *, name: str, limits: Limits, sheet: str | None = None) -> Table | None:
    """The sheet (the first worksheet by default) as a :class:`Table`, or None when the openpyxl reader must read it."""
    book = _plain_workbook(fileobj, name=name, limits=limits)
    if book is None:
        return None
    try:
        titles = _worksheet_titles(book)
        if not titles or (sheet is not None and sheet not in titles):
            return None
        title = sheet if sheet is not None else titles[0]
        values = book.get_sheet_by_name(title)
    except Exception:  # calamine's own errors: the openpyxl reader explains the file
        return None
    return build_table(_rows(values, name=name, limits=limits, title=title), name=name, limits=limits, sheet=title, format=XLSX)


def worksheet_names(fileobj: IO[bytes], *, name: str, limits: Limits) -> list[str] | None:
    """The workbook's worksheet names in order, or None when the openpyxl reader must read it."""
    book = _plain_workbook(fileobj, name=name, limits=limits)
    if book is None:
        return None
    try:
        return _worksheet_titles(book) or None
    except Exception:
        return None


def _plain_workbook(fileobj: IO[bytes], *, name: str, limits: Limits) -> Any | None:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        return None
    check_archive(fileobj, name=name, limits=limits)
    try:
        if not _is_plain_cached(fileobj, limits):
            return None
        fileobj.seek(0)
        return CalamineWorkbook.from_filelike(fileobj)
    except Exception:
        return None
    finally:
        fileobj.seek(0)


def _worksheet_titles(book: Any) -> list[str]:
    from python_calamine import SheetTypeEnum

    return [sheet.name for sheet in book.sheets_metadata if sheet.typ == SheetTypeEnum.WorkSheet]


def _is_plain_cached(fileobj: IO[bytes], limits: Limits) -> bool:
    """:func:`_is_plain`, remembered by content: one upload is opened several times (sheets, header, rows)."""
    digest = hashlib.sha256()
    for block in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(block)
    fileobj.seek(0)
    key = (digest.hexdigest(), limits.max_rows, limits.max_columns, limits.header_search_rows, conf.get("CALAMINE_MAX_ROWS"))
    if key not in _plain_seen:
        _plain_seen[key] = _is_plain(fileobj, limits)
        while len(_plain_seen) > 16:
            _plain_seen.pop(next(iter(_plain_seen)))
    return _plain_seen[key]


def _is_plain(fileobj: IO[bytes], limits: Limits) -> bool:
    """No part has anything :data:`NOT_PLAIN`, and every sheet is dense and within ``limits`` (calamine loads a sheet whole).

    Sizes were checked by ``check_archive``; a tag split between two blocks is at worst miscounted by one.
    """
    with zipfile.ZipFile(fileobj) as archive:
        for info in archive.infolist():
            if not info.filename.endswith((".xml", ".rels")):
                continue
            rows, last_row, widest = 0, 0, 0
            with archive.open(info) as part:
                tail = b""
                for block in iter(lambda part=part: part.read(1 << 20), b""):
                    text = tail + block
                    if any(pattern.search(text) for pattern in NOT_PLAIN):
                        return False
                    if info.filename.startswith("xl/worksheets/"):
                        rows += block.count(b"<row") + block.count(b":row")
                        for match in ROW_NUMBER.finditer(text):
                            if match.end() <= len(tail):
                                continue  # found in the previous block already
                            if int(match.group(1)) <= last_row:
                                return False  # rows out of order: the openpyxl reader reports the damage
                            last_row = int(match.group(1))
                        widest = max([widest, *(column_index_from_string(letters.decode()) for letters in WIDE_CELL.findall(text))])
                    tail = block[-OVERLAP:]
            if rows > limits.max_rows + limits.header_search_rows + 1 or last_row > 2 * rows + 100 or widest > limits.max_columns:
                return False
            if rows > conf.get("CALAMINE_MAX_ROWS"):
                return False  # calamine holds the whole sheet; past this, streaming openpyxl keeps memory flat
    return True


def _rows(sheet: Any, *, name: str, limits: Limits, title: str) -> Iterator[tuple[int, list[str]]]:
    """``(row_number, cells)`` like the openpyxl reader: texts up to the last non-blank cell."""
    # python-calamine 0.9 yields rows from the sheet's first row, blank or not, but cells from its first used column.
    first_column = sheet.start[1] if sheet.start else 0
    for row_number, values in enumerate(sheet.iter_rows(), start=1):
        texts = ((column, cell_text(value)) for column, value in enumerate(values, start=first_column + 1))
        yield row_number, row_texts(texts, row_number=row_number, limits=limits, name=name, sheet=title)
