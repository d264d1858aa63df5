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
grid, openpyxl stopping at the last row with a value. Asked (``plain=True``), the same
pass looks for what only openpyxl reads (:data:`NOT_PLAIN`), and then in the parts it
does not scan, so no part is unpacked twice to decide.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import IO, Any

from defusedxml import ElementTree
from django.utils.translation import gettext as _

from ..exceptions import FileRejected
from .archive import DAMAGED_ERRORS, check_archive, damaged_message
from .budget import Budget

#: Excel's grid; a reference beyond it is a damaged or hostile file.
EXCEL_MAX_ROWS, EXCEL_MAX_COLUMNS = 1_048_576, 16_384
ATTRIBUTES = rb"([^>\"'<]*(?:(?:\"[^\"<]*\"|'[^'<]*')[^>\"'<]*)*)"
PREFIX = rb"<(?:[A-Za-z_][\w.-]*:)?"
#: Start tags of rows and cells (attributes may hold ">" inside quotes, never "<"), with or without a namespace
#: prefix; without, the pattern starts with a literal and the regex engine skips ahead fast (10× on a large sheet).
ROW_START = re.compile(PREFIX + rb"row(?=[\s/>])" + ATTRIBUTES + rb">")
CELL_START = re.compile(PREFIX + rb"c(?=[\s/>])" + ATTRIBUTES + rb">")
PLAIN_ROW_START = re.compile(rb"<row(?=[\s/>])" + ATTRIBUTES + rb">")
PLAIN_CELL_START = re.compile(rb"<c(?=[\s/>])" + ATTRIBUTES + rb">")
ROW_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?row\s*>")
#: The tags of a cell's value: saved, inline or a formula.
VALUE_TAG = re.compile(PREFIX + rb"(?:v|is|f)[\s/>]")
R_ATTRIBUTE = re.compile(rb"\sr\s*=\s*[\"']([^\"']*)[\"']")
#: A cell's reference as every spreadsheet writes it; one written otherwise leaves the sheet to openpyxl.
CELL_REF = re.compile(rb' r="\$?([A-Za-z]+)\$?(\d{1,9})"')
MERGE_REF = re.compile(PREFIX + rb"mergeCell\s[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
COMPLETE_TAG = re.compile(rb"<[^<>\"']*(?:(?:\"[^\"<]*\"|'[^'<]*')[^<>\"']*)*>")
SHARED_STRING = re.compile(PREFIX + rb"si[\s/>]")
#: A start tag longer than this is no spreadsheet's.
MAX_TAG = 64 * 1024
BLOCK = 1 << 20
MAX_MERGED = 10_000
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#: What only the openpyxl reader handles: a DTD or entity in any part; formulas, merged, error and ISO-date cells in a sheet.
NOT_PLAIN = (
    re.compile(rb"<!(?!\[CDATA\[)"),
    re.compile(rb"<(?:\w+:)?(?:f|mergeCell)[\s>/]"),
    re.compile(rb"t\s*=\s*[\"'][ed][\"']"),
)
#: Bytes carried from one block to the next when a part is searched for :data:`NOT_PLAIN` without being scanned.
OVERLAP = 256


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
    #: Nothing :data:`NOT_PLAIN` was seen (looked for only when the scan is asked to).
    plain: bool = True

    @property
    def grid(self) -> int:
        """Cells in the rectangle a reader that holds the sheet whole would allocate."""
        return self.last_row * self.widest


@dataclass
class WorkbookExtent:
    """The worksheets by part name, and their titles in workbook order."""

    sheets: dict[str, SheetExtent]
    shared_strings: int = 0
    #: No part holds anything :data:`NOT_PLAIN`: python-calamine may read the workbook. None when not looked for.
    plain: bool | None = None

    def by_title(self, title: str) -> SheetExtent | None:
        return next((s for s in self.sheets.values() if s.title == title), None)


def inspect_workbook(fileobj: IO[bytes], *, name: str, limits: Any, budget: Budget | None = None, plain: bool = False) -> WorkbookExtent:
    """Check the archive (:func:`~.archive.check_archive`) and scan every worksheet, once for the opened file.

    With ``plain``, the same pass decides :attr:`WorkbookExtent.plain`.
    """
    check_archive(fileobj, name=name, limits=limits)
    try:
        return _scan(fileobj, name=name, limits=limits, budget=budget or Budget.start(limits, name=name), plain=plain)
    finally:
        fileobj.seek(0)


def _scan(fileobj: IO[bytes], *, name: str, limits: Any, budget: Budget, plain: bool) -> WorkbookExtent:
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
                sheet = SheetExtent(part=part, title=title, plain=plain)
                _scan_sheet(archive, sheet, name=name, limits=limits, budget=budget, cells_before=cells)
                cells += sheet.cells + sheet.rows
                extent.sheets[part] = sheet
            strings = SheetExtent(part="", title="", plain=plain)  # what the shared strings parts hold
            for part in strings_parts | {n for n in names if n.lower().endswith("sharedstrings.xml")}:
                strings.part = part
                extent.shared_strings += _count_shared_strings(archive, strings, name=name, limits=limits, budget=budget)
            if plain:
                scanned = {*titles, *strings_parts, *(n for n in names if n.lower().endswith("sharedstrings.xml"))}
                extent.plain = all(s.plain for s in extent.sheets.values()) and strings.plain
                extent.plain = extent.plain and _plain_parts(archive, names - scanned, budget=budget)
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


def _blocks(archive: zipfile.ZipFile, part: str, *, name: str, budget: Budget) -> Iterator[bytes]:
    """``part`` in blocks that end between tags: a tag cut off by a block's end is carried to the next block."""
    with archive.open(part) as stream:
        tail = b""
        for block in iter(lambda: stream.read(BLOCK), b""):
            text = tail + block
            last = text.rfind(b"<")
            if last >= 0 and not COMPLETE_TAG.match(text, last):
                text, tail = text[:last], text[last:]
                if len(tail) > MAX_TAG:
                    raise FileRejected(damaged_message(), file=name)
            else:
                tail = b""
            yield text
            budget.check()
        if tail:
            yield tail


def _scan_sheet(archive: zipfile.ZipFile, sheet: SheetExtent, *, name: str, limits: Any, budget: Budget, cells_before: int) -> None:
    """Count and place the sheet's rows and cells a block at a time: Python work per row, none per cell."""
    row, open_row = 0, False
    for text in _blocks(archive, sheet.part, name=name, budget=budget):
        # [before the first row, its attributes, its content, the next row's attributes, ...]
        plain = b":row" not in text and b":c" not in text
        pieces = (PLAIN_ROW_START if plain else ROW_START).split(text)
        if row and open_row and VALUE_TAG.search(_row_content(pieces[0])):
            _value_at(sheet, row, name=name, limits=limits)  # the rest of the row the previous block ended in
        for index in range(1, len(pieces), 2):
            row = _row_number(sheet, pieces[index], row, name=name)
            sheet.rows += 1
            sheet.last_row = max(sheet.last_row, row)
            content = b"" if pieces[index].endswith(b"/") else _row_content(pieces[index + 1])
            open_row = not pieces[index].endswith(b"/") and ROW_END.search(pieces[index + 1]) is None
            if VALUE_TAG.search(content):
                _value_at(sheet, row, name=name, limits=limits)
        cells = (PLAIN_CELL_START if plain else CELL_START).findall(text)
        sheet.cells += len(cells)
        _count(sheet, row, name=name, limits=limits, before=cells_before)
        if cells:
            _place_cells(sheet, cells, name=name)
        if len(sheet.merged) < MAX_MERGED and b"mergeCell" in text:
            sheet.merged.extend(ref.decode("ascii", "replace") for ref in MERGE_REF.findall(text)[: MAX_MERGED - len(sheet.merged)])
        _look_for_not_plain(sheet, text)


def _look_for_not_plain(part: SheetExtent, text: bytes) -> None:
    """Mark ``part`` not plain when this block of it holds anything :data:`NOT_PLAIN` (the blocks end between tags,
    so no tag is cut in two); once found, or when not asked for (``plain`` False from the start), nothing is searched."""
    if part.plain and any(pattern.search(text) for pattern in NOT_PLAIN):
        part.plain = False


def _plain_parts(archive: zipfile.ZipFile, parts: set[str], *, budget: Budget) -> bool:
    """No XML part of ``parts`` (those the scan did not read: workbook, styles, relationships…) holds anything
    :data:`NOT_PLAIN` (their sizes were checked by ``check_archive``)."""
    for part in sorted(parts):
        if not part.endswith((".xml", ".rels")):
            continue
        with archive.open(part) as stream:
            tail = b""
            for block in iter(lambda stream=stream: stream.read(BLOCK), b""):
                text = tail + block
                if any(pattern.search(text) for pattern in NOT_PLAIN):
                    return False
                tail = block[-OVERLAP:]
                budget.check()
    return True


def _row_content(text: bytes) -> bytes:
    """``text`` up to the end of the row it starts in: what follows the last row (formulas of data validations in
    ``<extLst>``, say) is not a value of that row."""
    end = ROW_END.search(text)
    return text[: end.start()] if end else text


def _count(sheet: SheetExtent, row: int, *, name: str, limits: Any, before: int) -> None:
    """Every row and cell element costs a reader time, empty or not: their number is held to ``max_cells``."""
    if sheet.cells + sheet.rows + before > limits.max_cells:
        raise FileRejected(
            _("The workbook has more than %(limit)s cells and rows; at most that many are read. Split it into smaller files.")
            % {"limit": f"{limits.max_cells:,}"},
            file=name,
            sheet=sheet.title,
            row=row or None,
        )


def _row_number(sheet: SheetExtent, attributes: bytes, previous: int, *, name: str) -> int:
    """The row's ``r``, else the one after the previous row (as openpyxl and python-calamine count)."""
    found = R_ATTRIBUTE.search(attributes)
    if found is None:
        sheet.explicit = False
        number = previous + 1
    elif not found.group(1).strip().isdigit():
        raise FileRejected(_("The sheet is damaged: a row has no valid number."), file=name, sheet=sheet.title)
    else:
        number = int(found.group(1).strip()[:9])
        if number <= previous:
            sheet.ordered = False
    _check_on_grid(sheet, number, 1, name=name)
    return number


def _place_cells(sheet: SheetExtent, cells: list[bytes], *, name: str) -> None:
    """Widen the sheet by its cells' references (``cells``: their attributes); a cell without one makes it not explicit."""
    refs = CELL_REF.findall(b" " + b" ".join(cells))
    if len(refs) != len(cells):
        sheet.explicit = False  # a cell placed by counting (or referenced unusually): only openpyxl reads it
    if refs:
        widest = max(_column(text) for text in set(map(itemgetter(0), refs)))
        _check_on_grid(sheet, 1, widest, name=name)
        sheet.widest = max(sheet.widest, widest)
        numbers = list(map(int, map(itemgetter(1), refs)))
        _check_on_grid(sheet, min(numbers), 1, name=name)
        _check_on_grid(sheet, max(numbers), 1, name=name)
        sheet.last_row = max(sheet.last_row, max(numbers))


def _column(letters: bytes) -> int:
    if len(letters) > 3:
        return EXCEL_MAX_COLUMNS + 1
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _check_on_grid(sheet: SheetExtent, row: int, column: int, *, name: str) -> None:
    if not 0 < row <= EXCEL_MAX_ROWS:
        message = _("The sheet is damaged: its rows are out of order or beyond Excel's last row.")
        raise FileRejected(message, file=name, sheet=sheet.title, row=row if row > 0 else None)
    if not 0 < column <= EXCEL_MAX_COLUMNS:
        raise FileRejected(_("The sheet is damaged: a cell lies beyond Excel's last column (XFD)."), file=name, sheet=sheet.title)


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
            _(
                "Row %(row)d has values below %(blank)d blank rows; a run of more than %(limit)d blank rows ends the table at row "
                "%(above)d. Delete what is below the table, or the blank rows, and upload again."
            )
            if above
            else _("Values start at row %(row)d, below %(blank)d blank rows; at most %(limit)d blank rows are read before a table.")
        )
        raise FileRejected(
            message % {"row": row, "blank": blank, "limit": limits.max_blank_rows, "above": above}, file=name, sheet=sheet.title, row=row
        )
    sheet.last_value_row = row
    sheet.value_rows += 1


def _count_shared_strings(archive: zipfile.ZipFile, strings: SheetExtent, *, name: str, limits: Any, budget: Budget) -> int:
    """The ``<si>`` items of the shared strings part ``strings.part``; ``strings.plain`` cleared when it is not plain."""
    count = 0
    for text in _blocks(archive, strings.part, name=name, budget=budget):
        _look_for_not_plain(strings, text)
        count += len(SHARED_STRING.findall(text))
        if count > limits.max_shared_strings:
            raise FileRejected(
                _("The workbook has more than %(limit)s different texts (shared strings); at most that many are read.")
                % {"limit": f"{limits.max_shared_strings:,}"},
                file=name,
            )
    return count
