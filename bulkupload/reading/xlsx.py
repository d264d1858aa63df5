"""Excel workbooks (.xlsx): openpyxl (read-only, saved values) opens the workbook; rows are streamed here.

The archive is checked first (:mod:`.archive`). Every XML part is parsed by
defusedxml, so entity declarations and external references are refused. The
sheet's rows come from openpyxl's cell parser driven by our own loop, which
never trusts the declared dimension, never pads rows to a claimed width, keeps
nothing of rows already read, and sees cell types: error cells and formulas
without a saved result are marked at their cell, and merged cells are found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet._reader import FORMULA_TAG, ROW_TAG, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

from ..exceptions import FileRejected
from . import calamine, sheetxml
from .archive import ARCHIVE_ERRORS, check_archive, damaged_message
from .budget import Budget
from .cells import ProblemCell, cell_text, error_cell, formula_cell
from .extent import EXCEL_MAX_ROWS, SheetExtent, inspect_workbook
from .parts import _causes, _Reader
from .sniff import XLSX
from .table import Limits, Table, build_table, row_texts

SHEET_DATA_TAG = f"{{{SHEET_MAIN_NS}}}sheetData"
MERGE_CELL_TAG = f"{{{SHEET_MAIN_NS}}}mergeCell"
MAX_MERGED_RANGES = 10_000


def unsafe_message() -> str:
    return _("The workbook contains XML entity declarations or external references, which are not allowed; it is refused as unsafe.")


class XlsxBook:
    """A workbook opened once: its extent scanned, then python-calamine (plain values, small grid) or openpyxl.

    :meth:`table` reads one sheet; several sheets of one book share the parsed
    workbook (shared strings, styles), so planning an upload parses it once.
    """

    format = XLSX
    encoding = ""

    def __init__(self, fileobj: IO[bytes], *, name: str, limits: Limits, budget: Budget, streaming: bool = True) -> None:
        self.fileobj, self.name, self.limits, self.budget = fileobj, name, limits, budget
        self.extent = inspect_workbook(fileobj, name=name, limits=limits, budget=budget, plain=not streaming)
        self._openpyxl: Any = None
        # Bounded by the scan above, every sheet streams through one reader (expat-checked XML, openpyxl's cell rules);
        # ``streaming=False`` keeps the calamine/openpyxl readers it is proven equal to (tests/test_sheetxml.py).
        self._stream = sheetxml.Workbook(fileobj, name=name, limits=limits) if streaming else None
        if self._stream is not None:
            self._calamine, self.sheet_names = None, self._stream.titles
            return
        self._calamine = calamine.plain_book(fileobj, name=name, limits=limits, extent=self.extent)
        titles = calamine.worksheet_titles(self._calamine) if self._calamine is not None else None
        if titles is None:
            self._calamine = None
            titles = [ws.title for ws in self._workbook().worksheets]
        self.sheet_names: list[str] = titles

    def _workbook(self) -> Any:
        if self._openpyxl is None:
            self._openpyxl = _load(self.fileobj, name=self.name, limits=self.limits)
        return self._openpyxl

    def value_rows(self, sheet: str | None) -> int:
        """How many rows of ``sheet`` (the first by default) hold a value: an exact count from the scan."""
        extent = self.extent.by_title(sheet if sheet is not None else self.sheet_names[0])
        return extent.value_rows if extent is not None else 0

    def table(self, sheet: str | None = None, *, closing: bool = False) -> Table:
        """``sheet`` (the first worksheet by default) as a :class:`Table`; with ``closing`` the book closes with its rows."""
        if sheet is not None and sheet not in self.sheet_names:
            raise FileRejected(_("The workbook has no sheet “%(sheet)s”.") % {"sheet": sheet}, file=self.name)
        title = sheet if sheet is not None else self.sheet_names[0]
        if self._stream is not None:
            stream = sheetxml.SheetRows(self._stream, title)
            rows = self.budget.metered(iter(stream), sheet=title)
            table = build_table(rows, name=self.name, limits=self.limits, sheet=title, format=XLSX)
            stream.header_row, stream.header_width = table.header_row, len(table.header)
            table.rows = sheetxml.checking_merged(table.rows, stream)
            return table
        extent = self.extent.by_title(title)
        if self._calamine is not None and calamine.fits(extent, self.limits):
            rows = calamine.sheet_rows(self._calamine, title, extent, name=self.name, limits=self.limits)
            if rows is not None:
                return build_table(self.budget.metered(rows, sheet=title), name=self.name, limits=self.limits, sheet=title, format=XLSX)
        workbook = self._workbook()
        try:
            worksheet = workbook[title]
            reader = SheetRows(worksheet, workbook, name=self.name, limits=self.limits, extent=extent, closing=closing)
            table = build_table(
                self.budget.metered(iter(reader), sheet=title), name=self.name, limits=self.limits, sheet=title, format=XLSX
            )
        except BaseException:
            if closing:
                workbook.close()
            raise
        reader.header_row, reader.header_width = table.header_row, len(table.header)
        table.rows = _checking_merged(table.rows, reader)
        return table

    def close(self) -> None:
        if self._openpyxl is not None:
            self._openpyxl.close()


def _checking_merged(data: Iterator[tuple[int, list[str]]], rows: SheetRows) -> Iterator[tuple[int, list[str]]]:
    # Merged ranges come after the rows in the sheet's XML: known only once every row has been read.
    yield from data
    rows.check_merged()


def _load(fileobj: IO[bytes], *, name: str, limits: Limits):
    check_archive(fileobj, name=name, limits=limits)
    try:
        reader = _Reader(fileobj, read_only=True, data_only=True, keep_links=False, keep_vba=False)
        reader.read()
        workbook = reader.wb
    except MemoryError:
        raise
    except Exception as exc:  # openpyxl raises a dozen kinds on broken parts, and wraps some in ValueError
        causes = _causes(exc)
        if any(isinstance(cause, DefusedXmlException) for cause in causes):
            raise FileRejected(unsafe_message(), file=name) from None
        if any(isinstance(cause, ARCHIVE_ERRORS) for cause in causes):
            raise FileRejected(damaged_message(), file=name) from None
        raise FileRejected(_("The workbook cannot be read (%(reason)s).") % {"reason": type(causes[-1]).__name__}, file=name) from None
    if not workbook.worksheets:
        workbook.close()
        raise FileRejected(_("The workbook has no worksheet."), file=name)
    return workbook


class _CellParser(WorkSheetParser):
    """openpyxl's cell parser, keeping what values-only reading loses: errors and formulas without results."""

    def parse_cell(self, element: Any) -> dict[str, Any]:
        cell = super().parse_cell(element)
        if cell["data_type"] == "e" and cell["value"] is not None:
            cell["value"] = error_cell(str(cell["value"]))
        elif cell["value"] is None and (formula := element.find(FORMULA_TAG)) is not None:
            cell["value"] = formula_cell("=" + (formula.text or "…"))
        return cell


def _upcoming_row(element: Any, parser: WorkSheetParser) -> int:
    """The number openpyxl will give this row: its ``r``, else the one after the previous row."""
    number = element.get("r", "")
    return int(number) if number.isdigit() else parser.row_counter + 1


class SheetRows:
    """The sheet's rows as ``(row_number, cells)``, streamed; closes the workbook when done.

    ``header_row`` and ``header_width`` are set once the header is known, so that
    :meth:`check_merged` can report merged cells over the table once the sheet has been read.
    """

    def __init__(
        self, worksheet: Any, workbook: Any, *, name: str, limits: Limits, extent: SheetExtent | None = None, closing: bool = True
    ) -> None:
        self.worksheet, self.workbook, self.name, self.limits = worksheet, workbook, name, limits
        self.extent, self.closing = extent, closing
        self.header_row: int | None = None
        self.header_width = 0
        # The scan saw every merged range already; reading stops at the sheet's last value, before them.
        self.merged: list[str] = list(extent.merged) if extent is not None else []

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        try:
            yield from self._parse()
        except FileRejected:
            raise
        except MemoryError:
            raise
        except DefusedXmlException:
            raise FileRejected(unsafe_message(), file=self.name, sheet=self.worksheet.title) from None
        except ARCHIVE_ERRORS:  # the archive itself: a part shorter or longer than declared, a bad checksum or deflate stream
            raise FileRejected(damaged_message(), file=self.name) from None
        except Exception:  # broken XML, bad coordinates or shared string indexes
            raise FileRejected(
                _("The sheet is damaged and cannot be read past this point."), file=self.name, sheet=self.worksheet.title
            ) from None
        finally:
            if self.closing:
                self.workbook.close()

    def _parse(self) -> Iterator[tuple[int, list[str]]]:
        ws, book = self.worksheet, self.workbook
        last = 0
        # Past the scan's last row with a value there is nothing to read, however many rows follow.
        stop = self.extent.last_value_row if self.extent is not None and self.extent.ordered else EXCEL_MAX_ROWS
        with ws._get_source() as source:
            parser = _CellParser(
                source,
                ws._shared_strings,
                data_only=True,
                epoch=book.epoch,
                date_formats=book._date_formats,
                timedelta_formats=book._timedelta_formats,
            )
            sheet_data = None
            for event, element in iterparse(source, events=("start", "end")):
                if event == "start":
                    if element.tag == SHEET_DATA_TAG:
                        sheet_data = element
                    continue
                if element.tag == ROW_TAG:
                    if _upcoming_row(element, parser) > stop:
                        return
                    row_number, cells = parser.parse_row(element)
                    element.clear()
                    if sheet_data is not None:
                        sheet_data.remove(element)  # keep nothing of rows already read
                    parser.row_dimensions.clear()
                    if not last < row_number <= EXCEL_MAX_ROWS:
                        raise FileRejected(
                            _("The sheet is damaged: its rows are out of order or beyond Excel's last row."),
                            file=self.name,
                            sheet=ws.title,
                            row=row_number if row_number > 0 else None,
                        )
                    last = row_number
                    yield row_number, self._texts(row_number, cells)
                elif element.tag == MERGE_CELL_TAG:
                    if self.extent is None and len(self.merged) < MAX_MERGED_RANGES:
                        self.merged.append(element.get("ref", ""))
                    element.clear()

    def _texts(self, row_number: int, cells: list[dict[str, Any]]) -> list[str]:
        """Cell texts by column, up to the last non-blank one; a value beyond ``max_columns`` is refused."""
        texts = ((cell["column"], value if isinstance(value := cell["value"], ProblemCell) else cell_text(value)) for cell in cells)
        return row_texts(texts, row_number=row_number, limits=self.limits, name=self.name, sheet=self.worksheet.title)

    def check_merged(self) -> None:
        """Refuse merged cells over the header or the rows below it (call once every row has been read)."""
        if self.header_row is None:
            return
        for ref in self.merged:
            try:
                min_col, min_row, _max_col, max_row = range_boundaries(ref)
            except (ValueError, TypeError):
                continue
            if max_row is None or max_row < self.header_row or min_col is None or min_col > self.header_width:
                continue
            raise FileRejected(
                _(
                    "Cells %(range)s are merged. A merged cell keeps its value in its first cell only and hides the others; "
                    "unmerge them and fill in every cell."
                )
                % {"range": ref},
                file=self.name,
                sheet=self.worksheet.title,
                row=min_row,
                column=get_column_letter(min_col),
            )
