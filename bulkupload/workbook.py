"""Every .xlsx the app writes: the template, and later error reports and exports.

Values that a spreadsheet would run as formulas are written as text, and
characters that xlsx cannot hold are dropped.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import io
import itertools
import math
import re
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from . import conf
from .spec import UploadSpec
from .spec.base import format_cell

HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")
HEADER_FONT = Font(bold=True)
WRAP = Alignment(wrap_text=True, vertical="top")
TEMPLATE_ROWS = 5000


#: What XML 1.0 cannot hold beyond the control characters openpyxl knows: lone surrogates, U+FFFE and U+FFFF.
UNWRITABLE_RE = re.compile("[\ud800-\udfff\ufffe\uffff]")
#: Excel's limit on the characters of one cell.
MAX_CELL_CHARACTERS = 32_767


def cell_safe_text(value: str) -> str:
    """``value`` without the characters an xlsx file cannot hold, cut to what a cell can hold."""
    return UNWRITABLE_RE.sub("", ILLEGAL_CHARACTERS_RE.sub("", value))[:MAX_CELL_CHARACTERS]


def write_row(sheet, row: int, values: Iterable[object]) -> None:
    """Write ``values`` into ``row`` of an ordinary worksheet; text stays text (see :func:`put`)."""
    for col, value in enumerate(values, start=1):
        put(sheet.cell(row=row, column=col), value)


def put(cell: Cell, value: object) -> Cell:
    """Give ``cell`` its value; text stays text, whatever it starts with.

    A string is always written as a string cell: "=HYPERLINK(…)", "=cmd|…", "+1",
    "@SUM(…)" or "#N/A" from a user's file never become a formula or an error
    cell that a spreadsheet would run or show as such.
    """
    if isinstance(value, Promise):  # a gettext_lazy label
        value = str(value)
    if isinstance(value, str):
        cell.value = cell_safe_text(value)
        # openpyxl takes text starting with "=" for a formula and "#N/A" for an error; keep it text.
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def cells(sheet, values: Iterable[object], **style: Any) -> list[WriteOnlyCell]:
    """A row for a write-only ``sheet``: each value in a cell of its own (:func:`put`), each with ``style`` (font, fill…)."""
    row = [put(WriteOnlyCell(sheet), value) for value in values]
    for cell in row:
        for name, setting in style.items():
            setattr(cell, name, setting)
    return row


def typed(text: str, raw: Any) -> object:
    """What a cell holds: ``raw`` itself when it is a number or a date that ``text`` merely spells (so SUM works and
    dates sort), otherwise ``text``. Booleans, choices and lookups stay the words the template writes.
    """
    if raw is None or isinstance(raw, bool) or text != format_cell(raw):
        return text
    if isinstance(raw, decimal.Decimal):
        return raw if raw.is_finite() else text
    if isinstance(raw, int | float):
        return raw if math.isfinite(raw) else text
    if isinstance(raw, datetime.datetime):
        # Excel has no time zones: the time as the people of this site read it.
        return timezone.localtime(raw).replace(tzinfo=None) if timezone.is_aware(raw) else raw
    if isinstance(raw, datetime.date):
        return raw
    return text


def exported_value(column: Any, text: str, record: Any) -> object:
    """One exported cell: the record's own number or date when the column shows it plainly (see :func:`typed`)."""
    return typed(text, getattr(record, column.field, None)) if column.field else text


def _model_field(spec: UploadSpec, column: Any) -> Any:
    model = getattr(spec, "model", None)
    if model is None or not column.field:
        return None
    try:
        return model._meta.get_field(column.field)
    except Exception:  # a column of the row form alone
        return None


def reported_value(spec: UploadSpec, column: Any, text: str) -> object:
    """A valid cell of an invalid row, typed as the model field would read it; text whenever in doubt."""
    field = _model_field(spec, column)
    value = text.strip() if isinstance(text, str) else text
    if field is None or field.choices or field.is_relation or not value or column.form_field is not None:
        return text
    try:
        if isinstance(field, models.IntegerField):
            return int(value) if str(int(value)) == value else text
        if isinstance(field, models.DecimalField | models.FloatField):
            number = decimal.Decimal(value)
            return number if number.is_finite() and "e" not in value.lower() else text
        if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
            formats = [*conf.get("DATE_INPUT_FORMATS"), *getattr(spec, "date_formats", ())]
            for pattern in formats:
                with contextlib.suppress(ValueError):
                    return datetime.datetime.strptime(value, pattern).date()
    except (ValueError, decimal.InvalidOperation):
        return text
    return text


def template_workbook(spec: UploadSpec, *, scope: Any = None) -> bytes:
    """The spec's template: a header row, dropdowns for choice columns (and lookups in ``scope``), an instructions sheet."""
    return _template(spec, scope=scope)


def export_workbook(spec: UploadSpec, queryset) -> bytes:
    """Records as a filled-in template: edit them in Excel and upload the file back.

    Cells come from :meth:`UploadSpec.to_row_values`, the same text the preview
    compares against, so an untouched row uploads as unchanged and an edited one as
    an update. Rows are streamed into the file as they are read: memory stays flat
    however many records there are.
    """
    related = spec.existing_related()
    records = queryset.select_related(*related) if related else queryset
    return _template(spec, records)


def _template(spec: UploadSpec, records=None, *, scope: Any = None) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(str(spec.sheet_title)[:31])
    # The dropdowns cover the template's empty rows, after the exported records if there are any.
    last_row = TEMPLATE_ROWS + (records.count() if records is not None else 0)
    choices = spec.template_choices(scope)
    for index, column in enumerate(spec.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    lists = add_dropdowns(sheet, list(spec.columns), choices, last_row)
    sheet.freeze_panes = "A2"
    sheet.append(cells(sheet, [c.label for c in spec.columns], font=HEADER_FONT, fill=HEADER_FILL))
    if records is not None:
        for record in records.iterator(chunk_size=1000):
            values = spec.to_row_values(record)
            sheet.append(cells(sheet, [exported_value(column, values.get(column.key, ""), record) for column in spec.columns]))
    if lists:
        _write_lists(book, lists)

    notes = book.create_sheet(_("Instructions")[:31])
    for letter, width in zip("ABCDEF", (18, 10, 36, 44, 20, 60), strict=True):
        notes.column_dimensions[letter].width = width
    notes.freeze_panes = "A2"
    headings = [_("Column"), _("Required"), _("Format"), _("Allowed values"), _("Example"), _("Notes")]
    notes.append(cells(notes, headings, font=HEADER_FONT, fill=HEADER_FILL, alignment=WRAP))
    for column in spec.columns:
        described = [
            column.label,
            _("yes") if column.required else _("no"),
            str(column.format),
            ", ".join(choices.get(column.key, ())[:50]),
            column.example,
            str(column.help_text),
        ]
        notes.append(cells(notes, described, alignment=WRAP))
    return save(book)


def add_dropdowns(sheet, columns: list, choices: dict[str, tuple[str, ...]], last_row: int) -> list[tuple[str, ...]]:
    """A dropdown on each of ``columns`` (in sheet order) that has ``choices``, from row 2 to ``last_row``.

    Returns the lists too long to write into a formula: :func:`_write_lists` puts them on a hidden sheet.
    """
    lists: list[tuple[str, ...]] = []
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        if not (values := choices.get(column.key)):
            continue
        literal = '"' + ",".join(values) + '"'
        if len(literal) > MAX_LIST_FORMULA or any("," in v or '"' in v for v in values):
            lists.append(values)
            col = get_column_letter(len(lists))
            literal = f"{LISTS_SHEET}!${col}$1:${col}${len(values)}"
        shown = ", ".join(values) if len(values) <= 20 else ", ".join(values[:20]) + ", …"
        validation = DataValidation(
            type="list",
            formula1=literal,
            allow_blank=not column.required,
            showErrorMessage=True,
            errorTitle=str(column.label)[:32],
            error=_("Choose one of: %(choices)s") % {"choices": shown},
        )
        validation.add(f"{letter}2:{letter}{last_row}")
        sheet.data_validations.append(validation)
    return lists


#: Excel refuses a dropdown whose list, written into its formula, is longer than this.
MAX_LIST_FORMULA = 255
LISTS_SHEET = "Lists"


def _write_lists(book: Workbook, lists: list[tuple[str, ...]]) -> None:
    """A hidden sheet with one dropdown's values per column, for lists too long for a formula."""
    sheet = book.create_sheet(LISTS_SHEET)
    sheet.sheet_state = "hidden"
    for row in itertools.zip_longest(*lists, fillvalue=""):
        sheet.append(cells(sheet, row))


def save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


#: What Excel does not allow in a sheet's name.
SHEET_TITLE_FORBIDDEN = re.compile(r"[\\/*?:\[\]\x00-\x1f]")


def sheet_title(text: str) -> str:
    """``text`` as Excel allows a sheet to be named: no ``\\ / * ? : [ ]``, no quote at either end, 31 characters."""
    return SHEET_TITLE_FORBIDDEN.sub("_", text or "")[:31].strip("'")


ERROR_FILL = PatternFill("solid", fgColor="F8D7D3")
#: Cell comments cost time and memory in openpyxl; past this many rows the bad cells are highlighted
#: and the Errors column alone carries the messages.
ERROR_REPORT_MAX_COMMENTED_ROWS = 10_000


def error_report(spec: UploadSpec, batch) -> bytes:
    """The batch's invalid rows as a workbook to fix in Excel and upload again.

    The file's columns under the file's own headers (in the template's order), then an ``Errors``
    column; each bad cell is highlighted and carries its message as a comment (in
    the first ``ERROR_REPORT_MAX_COMMENTED_ROWS`` rows; the Errors column has them all).
    Then a "Row in your file" column, as the messages ("Duplicate of row 16") count rows, and the template's
    dropdowns. Numbers and dates the row read well are written as such; every other value as text, so nothing
    the user typed runs as a formula.
    """
    from .models import UploadRow

    # The spec's order: the database may not keep the order of the batch's header mapping (PostgreSQL's jsonb).
    keys = [c.key for c in spec.columns if c.key in batch.headers] or [c.key for c in spec.columns]
    labels = {c.key: c.label for c in spec.columns}
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title(batch.sheet_name) or sheet_title(str(spec.sheet_title)) or "Sheet1")
    for index, key in enumerate(keys, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = spec.column(key).width
    sheet.column_dimensions[get_column_letter(len(keys) + 1)].width = 60
    sheet.freeze_panes = "A2"
    header = [batch.headers.get(key) or labels.get(key, key) for key in keys] + [_("Errors"), _("Row in your file")]
    sheet.column_dimensions[get_column_letter(len(keys) + 2)].width = 12
    columns = [spec.column(key) for key in keys]
    rows = batch.rows.filter(status=UploadRow.Status.INVALID).order_by("row_number")
    lists = add_dropdowns(sheet, columns, spec.template_choices(None), rows.count() + 1)
    sheet.append(cells(sheet, header, font=HEADER_FONT, fill=HEADER_FILL))
    for line, row in enumerate(rows.iterator(chunk_size=1000), start=2):
        errors = row.all_errors()
        summary = [f"{labels.get(key, key)}: {message}" for key in keys for message in errors.get(key, [])]
        summary += [str(message) for key, messages in errors.items() if key not in keys for message in messages]
        shown = [row.values.get(c.key, "") if errors.get(c.key) else reported_value(spec, c, row.values.get(c.key, "")) for c in columns]
        line_cells = cells(sheet, shown)
        for cell, key in zip(line_cells, keys, strict=True):
            if errors.get(key):
                cell.fill = ERROR_FILL
                if line <= ERROR_REPORT_MAX_COMMENTED_ROWS + 1:
                    cell.comment = Comment(cell_safe_text("\n".join(errors[key])), "bulkupload")
        sheet.append(line_cells + cells(sheet, ["\n".join(summary)], alignment=WRAP) + cells(sheet, [row.row_number]))
    if lists:
        _write_lists(book, lists)
    return save(book)
