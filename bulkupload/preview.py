"""What the preview shows: which rows (filters, jump to a row) and their values in the active locale."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from . import conf
from .models import UploadBatch, UploadRow
from .spec import UploadSpec
from .validation import decode_values

#: The preview's filters: query value → label. Other row statuses are accepted in the URL too.
Row = UploadRow.Status
FILTERS = (("", _("All rows")), (Row.INVALID, _("Only invalid")), (Row.UPDATE, _("Only updates")), (Row.NEW, _("Only new")))


def status_filter(query: Mapping[str, str]) -> str:
    """The row status the preview is filtered by ("" for all rows)."""
    status = query.get("status", "")
    return status if status in UploadRow.Status.values else ""


def filtered_rows(batch: UploadBatch, status: str) -> QuerySet[UploadRow]:
    rows = batch.rows.all()
    return rows.filter(status=status) if status else rows


def filter_links(batch: UploadBatch, current: str) -> list[dict[str, Any]]:
    """The filter links with their row counts, for the template ("Excluded" only when rows are excluded)."""
    counts = {value: batch.count_of(value) for value, _label in FILTERS}
    filters = list(FILTERS)
    if excluded := excluded_count(batch):
        counts[Row.EXCLUDED] = excluded
        filters.append((Row.EXCLUDED, _("Excluded")))
    return [{"value": value, "label": label, "count": counts[value], "current": value == current} for value, label in filters]


def excluded_count(batch: UploadBatch) -> int:
    """Rows the user excluded: the rows counted under no status (no query)."""
    return max(batch.total_rows - batch.valid_count - batch.invalid_count, 0)


#: "Keep the first / last / neither" of rows sharing a key.
KEEP_CHOICES = (("first", _("Keep the first")), ("last", _("Keep the last")), ("neither", _("Keep neither")))
SEEN_SUFFIX = "__seen"


def display_row(spec: UploadSpec, row: UploadRow, fix_form: Any, *, suggested: Collection[str] = ()) -> dict[str, Any]:
    """One row as the preview's table shows it: cells in the active locale, and for an invalid row its edit boxes
    (``suggested``: the lookup columns whose values the page lists for them).

    An edit box comes with the cell as shown (``seen_name``): saving compares with it, so only
    changed cells are written, and a row saved elsewhere meanwhile keeps the other edit.
    """
    errors = row.all_errors()
    if fix_form is not None:
        fix_form.show_row(errors=errors, suggested=suggested)
    typed = typed_values(spec, row)
    cells = [
        {
            "column": column,
            "value": localized(row.values.get(column.key, ""), typed.get(column.key)),
            "old": localized_old(row.changes[column.key], typed.get(column.key)) if column.key in row.changes else None,
            "errors": errors.get(column.key, []),
            "field": fix_form[column.key] if fix_form is not None else None,
            "seen": row.values.get(column.key, ""),
            "seen_name": f"{fix_form.prefix}-{column.key}{SEEN_SUFFIX}" if fix_form is not None else "",
        }
        for column in spec.columns
    ]
    return {
        "row": row,
        "cells": cells,
        "row_errors": errors.get(NON_FIELD_ERRORS, []),
        "fix_form": fix_form,
        "version_name": f"{fix_form.prefix}-version" if fix_form is not None else "",
        "excluded": row.status == UploadRow.Status.EXCLUDED,
    }


def jump_target(batch: UploadBatch, query: Mapping[str, str]) -> tuple[dict[str, Any], int | None]:
    """Where "go to row N" lands: the preview query (status, page) showing row N, and N; N is None when there is no such row.

    A row hidden by the current filter is shown with the filter removed.
    """
    status = status_filter(query)
    try:
        number = int(str(query.get("row", "")).strip())
    except ValueError:
        return {"status": status}, None
    if not batch.rows.filter(row_number=number).exists():
        return {"status": status}, None
    if status and not filtered_rows(batch, status).filter(row_number=number).exists():
        status = ""
    before = filtered_rows(batch, status).filter(row_number__lt=number).count()
    return {"status": status, "page": before // conf.get("PREVIEW_PAGE_SIZE") + 1, "target": number}, number


def decoded_values(spec: UploadSpec, row: UploadRow) -> dict[str, Any]:
    """The row's model values by field name and attname (valid rows only; {} otherwise)."""
    if row.data is None:
        return {}
    try:
        return decode_values(spec.model, row.data)
    except (ValueError, TypeError, LookupError):
        return {}


def typed_values(spec: UploadSpec, row: UploadRow) -> dict[str, Any]:
    """Column key → the row's typed value (valid rows only), for locale-aware display."""
    if row.data is None:
        return {}
    try:
        decoded = decode_values(spec.model, row.data)
    except (ValueError, TypeError, LookupError):
        return {}
    return {c.key: decoded[c.field] for c in spec.columns if c.field and c.field in decoded}


def localized(text: str, typed: Any) -> str:
    """``text`` as the active locale writes it when ``typed`` is a date or a number; otherwise ``text`` unchanged."""
    if typed is None or isinstance(typed, bool | int):
        return text  # ids and flags: what the user wrote says more
    if isinstance(typed, datetime.datetime):
        return formats.date_format(typed, "SHORT_DATETIME_FORMAT")
    if isinstance(typed, datetime.date):
        return formats.date_format(typed, "SHORT_DATE_FORMAT")
    if isinstance(typed, decimal.Decimal | float):
        value = typed.normalize() if isinstance(typed, decimal.Decimal) else typed
        return formats.number_format(value, use_l10n=True)
    return text


def localized_old(text: str, typed: Any) -> str:
    """An existing record's value (stored as ISO text) in the active locale, parsed like the new value."""
    try:
        if isinstance(typed, datetime.datetime):
            return localized(text, datetime.datetime.fromisoformat(text))
        if isinstance(typed, datetime.date):
            return localized(text, datetime.date.fromisoformat(text))
        if isinstance(typed, decimal.Decimal):
            return localized(text, decimal.Decimal(text))
    except (ValueError, decimal.InvalidOperation):
        pass
    return text
