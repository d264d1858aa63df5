"""A worksheet's ``<row>`` and ``<c>`` elements turned into cell texts, exactly as the openpyxl reader turns them.

:class:`CellBuilder` is fed by the streaming parser (:mod:`.sheetxml`) with each
cell's attributes and the texts of its ``<v>``, ``<f>`` and ``<is>``; it follows
openpyxl's ``WorkSheetParser.parse_cell`` (values only) and the app's marks for
error cells and formulas without a saved result (:mod:`.xlsx`), so that both
readers give the same text, the same problem and the same message for every cell.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel, from_ISO8601

from ..exceptions import FileRejected
from .cells import EXCEL_ERRORS, INVISIBLE, ProblemCell, RowCells, cell_text, error_cell, formula_cell
from .table import Limits, row_texts

#: Excel's own limit; a row number beyond it is a damaged or hostile file.
EXCEL_MAX_ROWS = 1_048_576
DIGITS = "0123456789"
#: Texts of numbers remembered per sheet (value and style → text); forgotten all at once past this.
MAX_REMEMBERED_NUMBERS = 50_000
STRIPPED = " \t\r\n" + INVISIBLE  # what cell_text strips from a text
#: Column letters (upper case, A to ZZZ, openpyxl's range) → 1-based index; anything else goes through openpyxl.
_COLUMNS: dict[str, int] = {}


def _columns() -> dict[str, int]:
    if not _COLUMNS:
        _COLUMNS.update((get_column_letter(index), index) for index in range(1, 18279))
    return _COLUMNS


ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def xml_text(raw: str) -> str:
    """Element text as an XML parser gives it: line ends normalised, then references replaced."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in raw:
        raw = ENTITY.sub(_reference, raw)
    return raw


def _reference(found: re.Match) -> str:
    name = found.group(1)
    if name[0] != "#":
        return NAMED[name]
    return chr(int(name[2:], 16) if name[1] == "x" else int(name[1:]))


def unsafe_message() -> str:
    return _("The workbook contains XML entity declarations or external references, which are not allowed; it is refused as unsafe.")


class CellBuilder:
    """Rows of cell texts from cell parts, with openpyxl's numbering of rows and cells that have no ``r``."""

    def __init__(
        self,
        strings: list[str],
        date_styles: frozenset[int],
        timedelta_styles: frozenset[int],
        epoch: Any,
        *,
        limits: Limits,
        name: str,
        sheet: str,
    ) -> None:
        self.strings, self.date_styles, self.timedelta_styles, self.epoch = strings, date_styles, timedelta_styles, epoch
        self.limits, self.name, self.sheet = limits, name, sheet
        self.columns = _columns()
        self.row_number = self.last = self.column = 0
        self.cells: list[tuple[int, str]] = []
        self.numbers: dict[tuple[str, str], str] = {}

    def start_row(self, ref: str | None) -> None:
        if ref is None:
            self.row_number += 1
        else:
            try:
                self.row_number = int(ref)
            except ValueError:
                number = float(ref)
                if not number.is_integer():
                    raise ValueError(f"{ref} is not a valid row number") from None
                self.row_number = int(number)
        self.column = 0
        self.cells = []

    def end_row(self) -> tuple[int, list[str]]:
        row_number = self.row_number
        if not self.last < row_number <= EXCEL_MAX_ROWS:
            raise FileRejected(
                _("The sheet is damaged: its rows are out of order or beyond Excel's last row."),
                file=self.name,
                sheet=self.sheet,
                row=row_number if row_number > 0 else None,
            )
        self.last = row_number
        cells = self.cells
        width = max([column for column, _text in cells], default=0)
        if width > self.limits.max_columns:  # row_texts names the first column beyond the limit
            return row_number, row_texts(cells, row_number=row_number, limits=self.limits, name=self.name, sheet=self.sheet)
        texts = RowCells([""] * width)
        for column, text in cells:
            if "\x00" in text:  # row_texts names the cell holding a NUL (no database text column stores one)
                return row_number, row_texts(cells, row_number=row_number, limits=self.limits, name=self.name, sheet=self.sheet)
            texts[column - 1] = text
        return row_number, texts

    def add_cell(
        self, ref: str | None, style: str | None, kind: str | None, value: str | None, formula: str | None, inline: str | None
    ) -> None:
        """One ``<c>`` from its ``r``, ``s`` and ``t`` attributes (None when absent) and the texts of its first ``<v>``
        and ``<f>`` and of its ``<is>`` (None when absent), as openpyxl's ``parse_cell`` reads them."""
        # openpyxl: a missing ``s`` is style 0, an empty one stays "" (no date), any other must be a number.
        number_style: Any = 0 if style is None else (int(style) if style else style)
        if ref:
            letters = ref.rstrip(DIGITS)
            column = self.columns.get(letters) if len(letters) < len(ref) else None
            self.column = column if column is not None else coordinate_to_tuple(ref)[1]
        else:
            self.column += 1
        kind = "n" if kind is None else kind
        text = None if kind == "inlineStr" else (value or None)
        if text is not None:
            result: Any = self._value(kind, text, number_style)
        elif kind == "inlineStr" and inline is not None:
            result = inline
        elif formula is not None:
            result = formula_cell("=" + (formula or "…"))
        else:
            return
        if not isinstance(result, ProblemCell):
            result = cell_text(result)
        if result:
            self.cells.append((self.column, result))

    def add_plain_cells(self, found: list[tuple[str, str, str, str, str, str, str]]) -> None:
        """Cells as :data:`~.sheetscan.FAST_CELL` finds them: ``(letters, row, style, kind, formula, value, inline)``.

        The common cases are turned into text here, in one loop (this is the reader's hot path); booleans,
        errors and the rest go through :meth:`add_cell`. "" stands for absent: an absent ``<v>`` and an empty
        one are both no value, and the pattern admits no empty ``s``, ``t`` or ``<f>``. A number's text is
        remembered by its value and style: the same dates and amounts come back row after row.
        """
        columns, strings, out, numbers = self.columns, self.strings, self.cells, self.numbers
        for letters, row, style, kind, formula, value, inline in found:
            if "&" in value:
                value = xml_text(value)
            if kind == "inlineStr":
                text = xml_text(inline) if "&" in inline else inline
            elif not value:
                if formula:  # no saved result
                    self.add_cell(letters + row, style or None, kind or None, None, xml_text(formula), None)
                else:
                    self.column = columns[letters]
                continue
            elif kind == "s":
                text = strings[int(value)]
            elif kind == "n" or not kind:
                if (text := numbers.get((value, style))) is None:
                    text = self._number_text(value, style)
                self.column = column = columns[letters]
                out.append((column, text))
                continue
            else:
                self.add_cell(letters + row, style or None, kind or None, value, None, None)
                continue
            self.column = column = columns[letters]
            text = text.strip(STRIPPED)
            if text:
                out.append((column, error_cell(text) if text in EXCEL_ERRORS else text))

    def _number_text(self, value: str, style: str) -> str:
        result = self._value("n", value, int(style) if style else 0)
        text = result if isinstance(result, ProblemCell) else cell_text(result)
        if len(self.numbers) >= MAX_REMEMBERED_NUMBERS:
            self.numbers.clear()
        self.numbers[value, style] = text
        return text

    def _value(self, kind: str, text: str, style: Any) -> Any:
        if kind == "n":
            number: Any = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
            if style in self.date_styles:
                try:
                    return from_excel(number, self.epoch, timedelta=style in self.timedelta_styles)
                except (OverflowError, ValueError):
                    return error_cell("#VALUE!")
            return number
        if kind == "s":
            return self.strings[int(text)]
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            return from_ISO8601(text)
        if kind == "e":
            return error_cell(text)
        return text


def check_merged(merged: list[str], *, header_row: int | None, header_width: int, name: str, sheet: str) -> None:
    """Refuse merged cells over the header or the rows below it (call once every row has been read)."""
    if header_row is None:
        return
    for ref in merged:
        try:
            min_col, min_row, _max_col, max_row = range_boundaries(ref)
        except (ValueError, TypeError):
            continue
        if max_row is None or max_row < header_row or min_col is None or min_col > header_width:
            continue
        raise FileRejected(
            _(
                "Cells %(range)s are merged. A merged cell keeps its value in its first cell only and hides the others; "
                "unmerge them and fill in every cell."
            )
            % {"range": ref},
            file=name,
            sheet=sheet,
            row=min_row,
            column=get_column_letter(min_col),
        )
