"""Excel workbooks (.xlsx), read with openpyxl in read-only mode, values only."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO

from django.utils.translation import gettext as _

from ..exceptions import FileRejected
from . import Limits, Table, data_rows, find_header
from .cells import cell_text, trim_trailing


def open_xlsx(fileobj: IO[bytes], *, name: str, limits: Limits, sheet: str | None = None) -> Table:
    workbook = _load(fileobj, name=name)
    if sheet is not None and sheet not in [ws.title for ws in workbook.worksheets]:
        workbook.close()
        raise FileRejected(_("The workbook has no sheet “%(sheet)s”.") % {"sheet": sheet}, file=name)
    return _table(workbook[sheet] if sheet is not None else workbook.worksheets[0], workbook, name=name, limits=limits)


def sheet_names(fileobj: IO[bytes], *, name: str) -> list[str]:
    """The names of the workbook's worksheets, in order."""
    workbook = _load(fileobj, name=name)
    try:
        return [ws.title for ws in workbook.worksheets]
    finally:
        workbook.close()


def _load(fileobj: IO[bytes], *, name: str):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        raise FileRejected(_("This file looks like a workbook but is damaged and cannot be opened."), file=name) from None
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        if "content.xml" in names:
            raise FileRejected(_("This is an OpenDocument spreadsheet (.ods). Save it as .xlsx or .csv and upload again."), file=name)
        raise FileRejected(_("This zip file is not an Excel workbook (.xlsx)."), file=name)
    if "xl/vbaProject.bin" in names:
        raise FileRejected(_("Workbooks with macros are not accepted. Save it as a plain .xlsx workbook and upload again."), file=name)
    fileobj.seek(0)
    try:
        workbook = openpyxl.load_workbook(fileobj, read_only=True, data_only=True, keep_links=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError) as exc:
        raise FileRejected(
            _("The workbook cannot be read (%(reason)s).") % {"reason": type(exc).__name__},
            file=name,
        ) from None
    if not workbook.worksheets:
        workbook.close()
        raise FileRejected(_("The workbook has no worksheet."), file=name)
    return workbook


def _table(sheet, workbook, *, name: str, limits: Limits) -> Table:
    # The declared dimension can lie; read what is there.
    sheet.reset_dimensions()
    rows = _sheet_rows(sheet, workbook)
    try:
        header_row, header = find_header(rows, limits=limits, name=name, sheet=sheet.title)
    except FileRejected:
        workbook.close()
        raise
    header = trim_trailing(header)
    return Table(
        header=header,
        rows=data_rows(rows, width=len(header), limits=limits, name=name, header=header, sheet=sheet.title),
        file_name=name,
        header_row=header_row,
        sheet=sheet.title,
        format="xlsx",
    )


def _sheet_rows(sheet, workbook) -> Iterator[tuple[int, list[str]]]:
    try:
        for row_number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield row_number, trim_trailing([cell_text(v) for v in values])
    finally:
        workbook.close()
