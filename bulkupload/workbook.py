"""Every .xlsx the app writes: the template, and later error reports and exports.

Values that a spreadsheet would run as formulas are written as text, and
characters that xlsx cannot hold are dropped.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .spec import UploadSpec

HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")
TEMPLATE_ROWS = 5000


#: What XML 1.0 cannot hold beyond the control characters openpyxl knows: lone surrogates, U+FFFE and U+FFFF.
UNWRITABLE_RE = re.compile("[\ud800-\udfff\ufffe\uffff]")
#: Excel's limit on the characters of one cell.
MAX_CELL_CHARACTERS = 32_767


def cell_safe_text(value: str) -> str:
    """``value`` without the characters an xlsx file cannot hold, cut to what a cell can hold."""
    return UNWRITABLE_RE.sub("", ILLEGAL_CHARACTERS_RE.sub("", value))[:MAX_CELL_CHARACTERS]


def write_row(sheet, row: int, values: Iterable[object]) -> None:
    """Write ``values`` into ``row``; text stays text, whatever it starts with.

    A string is always written as a string cell: "=HYPERLINK(…)", "=cmd|…", "+1",
    "@SUM(…)" or "#N/A" from a user's file never become a formula or an error
    cell that a spreadsheet would run or show as such.
    """
    for col, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=col)
        if isinstance(value, Promise):  # a gettext_lazy label
            value = str(value)
        if isinstance(value, str):
            cell.value = cell_safe_text(value)
            # openpyxl takes text starting with "=" for a formula and "#N/A" for an error; keep it text.
            cell.data_type = "s"
        else:
            cell.value = value


def template_workbook(spec: UploadSpec) -> bytes:
    """The spec's template: a header row, dropdowns for choice columns, an instructions sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = spec.sheet_title[:31]
    write_row(sheet, 1, [c.label for c in spec.columns])
    for index, column in enumerate(spec.columns, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.choices:
            validation = DataValidation(
                type="list",
                formula1='"' + ",".join(column.choices) + '"',
                allow_blank=not column.required,
                showErrorMessage=True,
                errorTitle=str(column.label)[:32],
                error=_("Choose one of: %(choices)s") % {"choices": ", ".join(column.choices)},
            )
            validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"

    notes = book.create_sheet(_("Instructions")[:31])
    write_row(notes, 1, [_("Column"), _("Required"), _("Format"), _("Allowed values"), _("Example"), _("Notes")])
    for index in range(1, 7):
        notes.cell(row=1, column=index).font = Font(bold=True)
        notes.cell(row=1, column=index).fill = HEADER_FILL
    for row, column in enumerate(spec.columns, start=2):
        write_row(
            notes,
            row,
            [
                column.label,
                _("yes") if column.required else _("no"),
                str(column.format),
                ", ".join(column.choices),
                column.example,
                str(column.help_text),
            ],
        )
    for letter, width in zip("ABCDEF", (18, 10, 36, 44, 20, 60), strict=True):
        notes.column_dimensions[letter].width = width
        for cell in notes[letter]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    notes.freeze_panes = "A2"
    return save(book)


def save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


ERROR_FILL = PatternFill("solid", fgColor="F8D7D3")
#: Cell comments cost time and memory in openpyxl; past this many rows the bad cells are highlighted
#: and the Errors column alone carries the messages.
ERROR_REPORT_MAX_COMMENTED_ROWS = 10_000


def error_report(spec: UploadSpec, batch) -> bytes:
    """The batch's invalid rows as a workbook to fix in Excel and upload again.

    The file's columns under the file's own headers (in the template's order), then an ``Errors``
    column; each bad cell is highlighted and carries its message as a comment (in
    the first ``ERROR_REPORT_MAX_COMMENTED_ROWS`` rows; the Errors column has them all).
    Values are written as text, so nothing the user typed runs as a formula.
    """
    from openpyxl.comments import Comment

    from .models import UploadRow

    # The spec's order: the database may not keep the order of the batch's header mapping (PostgreSQL's jsonb).
    keys = [c.key for c in spec.columns if c.key in batch.headers] or [c.key for c in spec.columns]
    labels = {c.key: c.label for c in spec.columns}
    book = Workbook()
    sheet = book.active
    sheet.title = (batch.sheet_name or spec.sheet_title)[:31]
    write_row(sheet, 1, [batch.headers.get(key) or labels.get(key, key) for key in keys] + [_("Errors")])
    for index in range(1, len(keys) + 2):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        sheet.cell(row=1, column=index).fill = HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = spec.column(keys[index - 1]).width if index <= len(keys) else 60
    rows = batch.rows.filter(status=UploadRow.Status.INVALID).order_by("row_number")
    for line, row in enumerate(rows.iterator(chunk_size=1000), start=2):
        errors = row.all_errors()
        summary = [f"{labels.get(key, key)}: {message}" for key in keys for message in errors.get(key, [])]
        summary += [str(message) for key, messages in errors.items() if key not in keys for message in messages]
        write_row(sheet, line, [row.values.get(key, "") for key in keys] + ["\n".join(summary)])
        for col, key in enumerate(keys, start=1):
            if errors.get(key):
                cell = sheet.cell(row=line, column=col)
                cell.fill = ERROR_FILL
                if line <= ERROR_REPORT_MAX_COMMENTED_ROWS + 1:
                    cell.comment = Comment(cell_safe_text("\n".join(errors[key])), "bulkupload")
        sheet.cell(row=line, column=len(keys) + 1).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    return save(book)


def export_workbook(spec: UploadSpec, queryset) -> bytes:
    """Records as a filled-in template: edit them in Excel and upload the file back.

    Cells come from :meth:`UploadSpec.to_row_values`, the same text the preview
    compares against, so an untouched row uploads as unchanged and an edited one as
    an update.
    """
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(template_workbook(spec)))
    sheet = book.worksheets[0]
    related = spec.existing_related()
    records = queryset.select_related(*related) if related else queryset
    for line, record in enumerate(records.iterator(chunk_size=1000), start=2):
        cells = spec.to_row_values(record)
        write_row(sheet, line, [cells.get(column.key, "") for column in spec.columns])
    return save(book)
