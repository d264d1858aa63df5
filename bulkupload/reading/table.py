"""The table every reader builds: limits, the header search and the data rows below it.

The format modules (:mod:`.xlsx`, :mod:`.text`, :mod:`.calamine`) turn a file into
``(row_number, cells)`` pairs and hand them here; :mod:`bulkupload.reading` only
opens a file and dispatches to its format. Nothing here imports a format module,
so the import graph of the package runs one way.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from .. import conf
from ..exceptions import FileRejected
from .archive import megabytes
from .cells import RowCells
from .sniff import CSV


def _setting(name: str):
    return field(default_factory=lambda: conf.get(name))


@dataclass(frozen=True)
class Limits:
    """What a file may contain before it is refused; defaults from ``settings.BULKUPLOAD`` (see :mod:`bulkupload.conf`)."""

    max_rows: int = _setting("MAX_ROWS")
    max_columns: int = _setting("MAX_COLUMNS")
    max_cell_length: int = _setting("MAX_CELL_LENGTH")
    max_file_size: int = _setting("MAX_FILE_SIZE")
    #: Workbooks: the parts' declared sizes, unpacked, in total and each.
    max_unpacked_size: int = _setting("MAX_UNPACKED_SIZE")
    max_unpacked_part_size: int = _setting("MAX_UNPACKED_PART_SIZE")
    #: The shared strings part, which openpyxl holds in memory.
    max_shared_strings_size: int = _setting("MAX_SHARED_STRINGS_SIZE")
    max_shared_strings: int = _setting("MAX_SHARED_STRINGS")
    #: Every sheet's cells together (empty or not), and a table's rows × columns.
    max_cells: int = _setting("MAX_CELLS")
    max_blank_rows: int = _setting("MAX_BLANK_ROWS")
    max_read_seconds: float = _setting("MAX_READ_SECONDS")
    #: Workbooks: unpacked size over packed size, for parts of at least ``ratio_checked_above`` bytes.
    max_compression_ratio: int = _setting("MAX_COMPRESSION_RATIO")
    ratio_checked_above: int = _setting("COMPRESSION_RATIO_CHECKED_ABOVE")
    max_zip_parts: int = _setting("MAX_ZIP_PARTS")
    #: The header is looked for in this many rows from the first non-blank one.
    header_search_rows: int = _setting("HEADER_SEARCH_ROWS")


@dataclass
class Table:
    """A header and the data rows below it.

    ``rows`` yields ``(row_number, cells)``: the 1-based row number in the file and
    the cell texts aligned with ``header`` (blank cells are ``""``). Blank rows are
    skipped; reading stops with :class:`FileRejected` past ``Limits.max_rows``.
    Cells may be :class:`~.cells.ProblemCell` and rows :class:`~.cells.RowCells`
    with a ``problem``: pass them through :func:`~.cells.record_problems`.
    """

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    file_name: str
    header_row: int = 1
    sheet: str | None = None
    format: str = ""
    #: The text encoding of a CSV file ("" for a workbook).
    encoding: str = ""


def row_texts(texts: Iterable[tuple[int, str]], *, row_number: int, limits: Limits, name: str, sheet: str | None) -> RowCells:
    """A row from ``(column, text)`` pairs (1-based columns, in order): up to its last non-blank cell.

    A value beyond ``limits.max_columns`` refuses the file at that row and column.
    """
    found: dict[int, str] = {}
    for column, text in texts:
        if not text:
            continue
        if "\x00" in text:
            # Excel writes a NUL as _x0000_; no database text column can store one.
            raise FileRejected(
                _("The cell holds a NUL character (written _x0000_ in the file), which cannot be stored. Delete it and upload again."),
                file=name,
                sheet=sheet,
                row=row_number,
                column=get_column_letter(min(column, 16_384)),
            )
        if column > limits.max_columns:
            raise FileRejected(
                _("This row has a value in column %(column)s; at most %(limit)d columns are allowed.")
                % {"column": get_column_letter(column), "limit": limits.max_columns},
                file=name,
                sheet=sheet,
                row=row_number,
            )
        found[column] = text
    cells = RowCells([""] * (max(found) if found else 0))
    for column, text in found.items():
        cells[column - 1] = text
    return cells


def check_file_size(fileobj: IO[bytes], *, name: str, limits: Limits) -> None:
    fileobj.seek(0, 2)
    size = fileobj.tell()
    fileobj.seek(0)
    if size > limits.max_file_size:
        raise FileRejected(
            _("The file is %(size)s; at most %(limit)s are allowed.") % {"size": megabytes(size), "limit": megabytes(limits.max_file_size)},
            file=name,
        )


def build_table(rows: Iterator[tuple[int, list[str]]], *, name: str, limits: Limits, sheet: str | None = None, format: str) -> Table:
    """Find the header in ``rows`` and stream the data rows below it."""
    header_row, header, rest = find_header(rows, limits=limits, name=name, sheet=sheet)
    return Table(
        header=header,
        rows=data_rows(rest, width=len(header), limits=limits, name=name, header=header, sheet=sheet, strict_width=format == CSV),
        file_name=name,
        header_row=header_row,
        sheet=sheet,
        format=format,
    )


def find_header(
    rows: Iterator[tuple[int, list[str]]], *, limits: Limits, name: str, sheet: str | None = None
) -> tuple[int, list[str], Iterator[tuple[int, list[str]]]]:
    """The header row, and the rows after it.

    The header is the first row, among the first ``header_search_rows`` from the
    first non-blank one, filled more than half as much as the fullest of them: a
    title above the header ("Timesheets, March") is passed over.
    """
    window: list[tuple[int, list[str]]] = []
    for row_number, cells in rows:
        if not any(cells):
            continue
        if window and row_number >= window[0][0] + limits.header_search_rows:
            rows = itertools.chain([(row_number, cells)], rows)
            break
        window.append((row_number, cells))
    if not window:
        raise FileRejected(_("The file has no header row and no data."), file=name, sheet=sheet)
    filled = [sum(1 for c in cells if c) for _n, cells in window]
    index = next(i for i, n in enumerate(filled) if n * 2 > max(filled) or n == max(filled))
    row_number, header = window[index]
    header = [str(c) for c in header]
    while header and not header[-1]:
        header.pop()
    for position, text in enumerate(header):
        if len(text) > limits.max_cell_length:
            # Before any matching: comparing a 100,000-character header with every column name costs seconds.
            raise FileRejected(
                _("A header cell holds %(length)d characters; at most %(limit)d are allowed.")
                % {"length": len(text), "limit": limits.max_cell_length},
                file=name,
                sheet=sheet,
                row=row_number,
                column=get_column_letter(position + 1),
            )
    if len(header) > limits.max_columns:
        raise FileRejected(
            _("The file has %(count)d columns; at most %(limit)d are allowed.") % {"count": len(header), "limit": limits.max_columns},
            file=name,
            sheet=sheet,
            row=row_number,
        )
    return row_number, header, itertools.chain(window[index + 1 :], rows)


def data_rows(
    rows: Iterator[tuple[int, list[str]]],
    *,
    width: int,
    limits: Limits,
    name: str,
    header: list[str],
    sheet: str | None = None,
    strict_width: bool = False,
) -> Iterator[tuple[int, RowCells]]:
    """Rows below the header, aligned to ``width``; blank rows skipped, limits enforced.

    A row with values beyond the header (or, with ``strict_width``, fewer fields
    than the header: CSV) is marked invalid at that row, not refused.
    """
    count = previous = 0
    for row_number, cells in rows:
        if not any(cells):
            continue
        if previous and row_number - previous - 1 > limits.max_blank_rows:
            raise FileRejected(
                _(
                    "Row %(row)d has values below %(blank)d blank rows; a run of more than %(limit)d blank rows ends the table at row "
                    "%(above)d. Delete what is below the table, or the blank rows, and upload again."
                )
                % {"row": row_number, "blank": row_number - previous - 1, "limit": limits.max_blank_rows, "above": previous},
                file=name,
                sheet=sheet,
                row=row_number,
            )
        previous = row_number
        cells, problem = _aligned(cells, width=width, strict_width=strict_width)
        count += 1
        _check_row(cells, count=count, row_number=row_number, width=width, limits=limits, name=name, header=header, sheet=sheet)
        out = RowCells(cells)
        out.extend([""] * (width - len(cells)))
        out.problem = problem
        yield row_number, out


def _aligned(cells: list[str], *, width: int, strict_width: bool) -> tuple[list[str], str]:
    """The row cut to ``width`` cells, and what is wrong with its width ("" if nothing, or the reader's own problem)."""
    problem = getattr(cells, "problem", "")
    if len(cells) > width:
        beyond = [get_column_letter(i + 1) for i in range(width, len(cells)) if cells[i]]
        if beyond and not problem:
            problem = _("This row has values beyond the last column of the header, in column %(columns)s.") % {
                "columns": ", ".join(beyond[:5])
            }
        cells = cells[:width]
    elif len(cells) < width and strict_width and not problem:
        problem = _("This row has %(count)d fields but the header has %(width)d: a separator is missing or a quote is not closed.") % {
            "count": len(cells),
            "width": width,
        }
    return cells, problem


def _check_row(
    cells: list[str], *, count: int, row_number: int, width: int, limits: Limits, name: str, header: list[str], sheet: str | None
) -> None:
    """Refuse the file at this row, the ``count``-th data row, past a cell's length, the table's cells or its rows."""
    for index, text in enumerate(cells):
        if len(text) > limits.max_cell_length:
            raise FileRejected(
                _("A cell holds %(length)d characters; at most %(limit)d are allowed.")
                % {"length": len(text), "limit": limits.max_cell_length},
                file=name,
                sheet=sheet,
                row=row_number,
                column=header[index] or get_column_letter(index + 1),
            )
    if count * max(width, 1) > limits.max_cells:
        raise FileRejected(
            _("The table has more than %(limit)s cells (rows × columns); at most that many are read. Split it into smaller files.")
            % {"limit": f"{limits.max_cells:,}"},
            file=name,
            sheet=sheet,
            row=row_number,
        )
    if count > limits.max_rows:
        raise FileRejected(
            _("The file has more than %(limit)d data rows. Split it into smaller files.") % {"limit": limits.max_rows},
            file=name,
            sheet=sheet,
            row=row_number,
        )
