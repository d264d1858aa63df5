"""Plain .xlsx data read with python-calamine (Rust): the same cell texts as the openpyxl reader, 20–40× faster.

Only workbooks that hold nothing but values take this path: no formulas, no
error cells, no merged cells, no ISO-date cells, no DTD anywhere. And only a sheet
whose real extent (:mod:`.extent`: every row and cell says where it is, rows in
order) spans a small grid: python-calamine allocates the whole rectangle up to the
farthest cell, empty or not. Anything else, a workbook calamine cannot open, or
python-calamine not installed, goes to the openpyxl reader (:mod:`.xlsx`), which
streams and says what is wrong with the file. ``bench/calamine_check.py`` compares
both readers on every workbook the test suite writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import IO, Any

from .. import conf
from .cells import cell_text
from .extent import SheetExtent, WorkbookExtent
from .table import Limits, row_texts


def plain_book(fileobj: IO[bytes], *, name: str, limits: Limits, extent: WorkbookExtent) -> Any | None:
    """The workbook opened by python-calamine, or None when the openpyxl reader must read it.

    The archive has been checked and its sheets scanned, looking for what is not plain, by
    :func:`.extent.inspect_workbook` (``plain=True``): that one pass decides.
    """
    if not extent.plain:
        return None
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        return None
    try:
        fileobj.seek(0)
        return CalamineWorkbook.from_filelike(fileobj)
    except Exception:
        return None
    finally:
        fileobj.seek(0)


def worksheet_titles(book: Any) -> list[str] | None:
    """The workbook's worksheet names in order, or None when the openpyxl reader must read it."""
    from python_calamine import SheetTypeEnum

    try:
        return [sheet.name for sheet in book.sheets_metadata if sheet.typ == SheetTypeEnum.WorkSheet] or None
    except Exception:
        return None


def fits(extent: SheetExtent | None, limits: Limits) -> bool:
    """Whether python-calamine may hold this sheet whole: every position explicit, rows in order, a small grid."""
    return (
        extent is not None
        and extent.explicit
        and extent.ordered
        and extent.widest <= limits.max_columns
        and extent.last_row <= conf.get("CALAMINE_MAX_ROWS")
        and extent.grid <= conf.get("CALAMINE_MAX_CELLS")
    )


def sheet_rows(book: Any, title: str, extent: SheetExtent, *, name: str, limits: Limits) -> Iterator[tuple[int, list[str]]] | None:
    """``(row_number, cells)`` like the openpyxl reader, up to the sheet's last row with a value; None when calamine fails."""
    try:
        sheet = book.get_sheet_by_name(title)
    except Exception:
        return None
    return _rows(sheet, name=name, limits=limits, title=title, last=extent.last_value_row)


def _rows(sheet: Any, *, name: str, limits: Limits, title: str, last: int) -> Iterator[tuple[int, list[str]]]:
    """``(row_number, cells)`` like the openpyxl reader: texts up to the last non-blank cell."""
    # python-calamine 0.9 yields rows from the sheet's first row, blank or not, but cells from its first used column.
    first_column = sheet.start[1] if sheet.start else 0
    for row_number, values in enumerate(itertools.islice(sheet.iter_rows(), last), start=1):
        texts = ((column, cell_text(value)) for column, value in enumerate(values, start=first_column + 1))
        yield row_number, row_texts(texts, row_number=row_number, limits=limits, name=name, sheet=title)
