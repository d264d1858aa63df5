"""The real extent of a workbook's sheets, from their cells, before any reader allocates for them.

A sheet's ``<dimension>`` is a claim; so are the row and cell numbers. python-calamine
sizes its grid from the farthest cell it meets (a 1.8 KB file asked it for 549 GB),
and openpyxl spends time on every ``<row>`` and ``<c>`` element however empty. So
every worksheet part is scanned once as bytes (no XML tree, no per-cell objects):
rows and cells are counted and placed as the readers place them (``r`` or not, any
number of column letters), and the workbook is refused, naming the sheet and row,
when it exceeds the cell budget, when values resume after a long run of blank
rows, when a reference lies beyond Excel's grid, or when its shared strings are
too many. The readers then use the result: python-calamine only for a small dense
grid, openpyxl stopping at the last row with a value.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

from defusedxml import ElementTree
from django.utils.translation import gettext as _

from ..exceptions import FileRejected
from .archive import DAMAGED_ERRORS, check_archive, damaged_message
from .budget import Budget

#: Excel's grid; a reference beyond it is a damaged or hostile file.
EXCEL_MAX_ROWS, EXCEL_MAX_COLUMNS = 1_048_576, 16_384
#: A start tag of a row, a cell or a value element; attributes may hold ">" inside quotes, never "<".
TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|v|is|f|mergeCell)(?=[\s/>])((?:[^>\"'<]|\"[^\"<]*\"|'[^'<]*')*?)(/?)>")
R_ATTRIBUTE = re.compile(rb"\sr\s*=\s*[\"']([^\"']*)[\"']")
REF_ATTRIBUTE = re.compile(rb"\sref\s*=\s*[\"']([^\"']*)[\"']")
CELL_REF = re.compile(rb"\$?([A-Za-z]+)\$?(\d+)")
COMPLETE_TAG = re.compile(rb"<[^<>\"']*(?:(?:\"[^\"<]*\"|'[^'<]*')[^<>\"']*)*>")
SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
#: A start tag longer than this is no spreadsheet's.
MAX_TAG = 64 * 1024
BLOCK = 1 << 20
MAX_MERGED = 10_000
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@dataclass
class SheetExtent:
    """What a worksheet part really holds, as the readers would place it."""

    part: str
    title: str
    rows: int = 0
    cells: int = 0
    #: The farthest row and column any cell or row reaches (empty or not).
    last_row: int = 0
    widest: int = 0
    #: The last row with a value, and how many rows have one.
    last_value_row: int = 0
    value_rows: int = 0
    #: Every row and cell says where it is (``r``), and the rows come in order.
    explicit: bool = True
    ordered: bool = True
    merged: list[str] = field(default_factory=list)

    @property
    def grid(self) -> int:
        """Cells in the rectangle a reader that holds the sheet whole would allocate."""
        return self.last_row * self.widest


@dataclass
class WorkbookExtent:
    """The worksheets by part name, and their titles in workbook order."""

    sheets: dict[str, SheetExtent]
    shared_strings: int = 0

    def by_title(self, title: str) -> SheetExtent | None:
        return next((s for s in self.sheets.values() if s.title == title), None)


_seen: dict[tuple, WorkbookExtent] = {}


def inspect_workbook(fileobj: IO[bytes], *, name: str, limits: Any, budget: Budget | None = None) -> WorkbookExtent:
    """Check the archive (:func:`~.archive.check_archive`) and scan every worksheet; remembered by content.

    One upload is opened several times in a request (plan, then rows); the scan runs once.
    """
    digest = hashlib.sha256()
    fileobj.seek(0)
    for block in iter(lambda: fileobj.read(BLOCK), b""):
        digest.update(block)
    fileobj.seek(0)
    key = (name, digest.hexdigest(), limits)
    if key not in _seen:
        check_archive(fileobj, name=name, limits=limits)
        try:
            _seen[key] = _scan(fileobj, name=name, limits=limits, budget=budget or Budget.start(limits, name=name))
        finally:
            fileobj.seek(0)
        while len(_seen) > 16:
            _seen.pop(next(iter(_seen)))
    return _seen[key]


def _scan(fileobj: IO[bytes], *, name: str, limits: Any, budget: Budget) -> WorkbookExtent:
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = set(archive.namelist())
            titles, strings_parts = _sheet_parts(archive, names)
            for part in names:
                if part.startswith("xl/worksheets/") and part.endswith(".xml") and part not in titles:
                    titles[part] = posixpath.basename(part)
            extent = WorkbookExtent(sheets={})
            cells = 0
            for part, title in titles.items():
                sheet = SheetExtent(part=part, title=title)
                _scan_sheet(archive, sheet, name=name, limits=limits, budget=budget, cells_before=cells)
                cells += sheet.cells + sheet.rows
                extent.sheets[part] = sheet
            for part in strings_parts | {n for n in names if n.lower().endswith("sharedstrings.xml")}:
                extent.shared_strings += _count_shared_strings(archive, part, name=name, limits=limits, budget=budget)
            return extent
    except FileRejected:
        raise
    except DAMAGED_ERRORS:
        raise FileRejected(damaged_message(), file=name) from None


def _sheet_parts(archive: zipfile.ZipFile, names: set[str]) -> tuple[dict[str, str], set[str]]:
    """Worksheet part → title, as the workbook names them, and the shared strings parts it points to."""
    if "xl/_rels/workbook.xml.rels" not in names or "xl/workbook.xml" not in names:
        return {}, set()
    try:
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    except Exception:
        return {}, set()
    targets, strings = {}, set()
    for rel in rels.iter(f"{{{RELS_NS}}}Relationship"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        if rel.get("Type", "").endswith("/worksheet"):
            targets[rel.get("Id")] = path
        elif rel.get("Type", "").endswith("/sharedStrings"):
            strings.add(path)
    titles = {}
    for sheet in book.iter(f"{{{MAIN_NS}}}sheet"):
        path = targets.get(sheet.get(f"{{{DOC_RELS_NS}}}id"))
        if path in names:
            titles[path] = sheet.get("name", "")
    return titles, strings & names


def _tags(archive: zipfile.ZipFile, part: str, *, name: str, budget: Budget, pattern: re.Pattern = TAG):
    """The matches of ``pattern`` in ``part``, read in blocks; a tag split between blocks is joined first."""
    with archive.open(part) as stream:
        tail = b""
        for block in iter(lambda: stream.read(BLOCK), b""):
            text = tail + block
            end = 0
            for match in pattern.finditer(text):
                end = match.end()
                yield match
            last = text.rfind(b"<")
            # Only a tag cut off by the block's end is carried over; a complete one was matched or is not ours.
            tail = text[last:] if last >= end and not COMPLETE_TAG.match(text, last) else b""
            if len(tail) > MAX_TAG:
                raise FileRejected(damaged_message(), file=name)
            budget.check()


def _scan_sheet(archive: zipfile.ZipFile, sheet: SheetExtent, *, name: str, limits: Any, budget: Budget, cells_before: int) -> None:
    row = column = cell_row = 0
    row_open = False
    for match in _tags(archive, sheet.part, name=name, budget=budget):
        closing, tag, attributes, empty = match.groups()
        if tag == b"row":
            if closing:
                row_open = False
                continue
            row = _row_number(sheet, attributes, row, name=name)
            sheet.rows, column, row_open = sheet.rows + 1, 0, not empty
            sheet.last_row = max(sheet.last_row, row)
            _count(sheet, row, name=name, limits=limits, before=cells_before)
        elif tag == b"c" and not closing:
            cell_row, column = _place_cell(sheet, attributes, row, column, name=name)
            sheet.cells += 1
            _count(sheet, cell_row, name=name, limits=limits, before=cells_before)
            row = row if row_open else cell_row
        elif tag in (b"v", b"is", b"f") and not closing:
            # A cell placed above its own row (a hostile file) counts at the lower of the two.
            _value_at(sheet, max(cell_row, row), name=name, limits=limits)
        elif tag == b"mergeCell" and len(sheet.merged) < MAX_MERGED and (ref := REF_ATTRIBUTE.search(attributes)):
            sheet.merged.append(ref.group(1).decode("ascii", "replace"))


def _count(sheet: SheetExtent, row: int, *, name: str, limits: Any, before: int) -> None:
    """Every row and cell element costs a reader time, empty or not: their number is held to ``max_cells``."""
    if sheet.cells + sheet.rows + before > limits.max_cells:
        raise FileRejected(
            _("The workbook has more than %(limit)s cells and rows; at most that many are read. Split it into smaller files.")
            % {"limit": f"{limits.max_cells:,}"},
            file=name,
            sheet=sheet.title,
            row=row,
        )


def _row_number(sheet: SheetExtent, attributes: bytes, previous: int, *, name: str) -> int:
    found = R_ATTRIBUTE.search(attributes)
    if found is None:
        sheet.explicit = False
        return previous + 1
    try:
        number = int(found.group(1))
    except ValueError:
        raise FileRejected(_("The sheet is damaged: a row has no valid number."), file=name, sheet=sheet.title) from None
    if number <= previous:
        sheet.ordered = False
    _check_on_grid(sheet, number, 1, name=name)
    return number


def _place_cell(sheet: SheetExtent, attributes: bytes, row: int, column: int, *, name: str) -> tuple[int, int]:
    """The cell's row and column, as openpyxl and python-calamine place it: by ``r``, else next to the previous cell."""
    found = R_ATTRIBUTE.search(attributes)
    if found is None:
        sheet.explicit = False
        cell_row, column = max(row, 1), column + 1
    elif (ref := CELL_REF.fullmatch(found.group(1).strip())) is None:
        raise FileRejected(_("The sheet is damaged: a cell has no valid reference."), file=name, sheet=sheet.title, row=row or None)
    else:
        column = 0
        for letter in ref.group(1).upper()[:8]:
            column = column * 26 + letter - 64
        column = column if len(ref.group(1)) <= 8 else EXCEL_MAX_COLUMNS + 1
        cell_row = int(ref.group(2)[:9])
    _check_on_grid(sheet, cell_row, column, name=name)
    sheet.widest = max(sheet.widest, column)
    sheet.last_row = max(sheet.last_row, cell_row)
    return cell_row, column


def _check_on_grid(sheet: SheetExtent, row: int, column: int, *, name: str) -> None:
    if not 0 < row <= EXCEL_MAX_ROWS:
        message = _("The sheet is damaged: its rows are out of order or beyond Excel's last row.")
        raise FileRejected(message, file=name, sheet=sheet.title, row=row if row > 0 else None)
    if not 0 < column <= EXCEL_MAX_COLUMNS:
        raise FileRejected(_("The sheet is damaged: a cell lies beyond Excel's last column (XFD)."), file=name, sheet=sheet.title, row=row)


def _value_at(sheet: SheetExtent, row: int, *, name: str, limits: Any) -> None:
    """A value in ``row``: a long run of blank rows before it means the table ended above it."""
    if row == sheet.last_value_row:
        return
    if row < sheet.last_value_row:
        sheet.ordered = False
        return
    blank = row - sheet.last_value_row - 1
    if blank > limits.max_blank_rows:
        above = sheet.last_value_row
        message = (
            _("Values start at row %(row)d, below %(blank)d blank rows; at most %(limit)d blank rows are read before a table.")
            if not above
            else _(
                "Row %(row)d has values below %(blank)d blank rows; a run of more than %(limit)d blank rows ends the table at row "
                "%(above)d. Delete what is below the table, or the blank rows, and upload again."
            )
        )
        raise FileRejected(
            message % {"row": row, "blank": blank, "limit": limits.max_blank_rows, "above": above}, file=name, sheet=sheet.title, row=row
        )
    sheet.last_value_row = row
    sheet.value_rows += 1


def _count_shared_strings(archive: zipfile.ZipFile, part: str, *, name: str, limits: Any, budget: Budget) -> int:
    count = 0
    for _match in _tags(archive, part, name=name, budget=budget, pattern=SHARED_STRING):
        count += 1
        if count > limits.max_shared_strings:
            raise FileRejected(
                _("The workbook has more than %(limit)s different texts (shared strings); at most that many are read.")
                % {"limit": f"{limits.max_shared_strings:,}"},
                file=name,
            )
    return count
