"""Fixing a ready upload in the preview: cell edits, bulk find-and-replace, excluding rows, duplicate keys.

This module decides what to change (which cells, which rows, which of the duplicates)
and reads what the preview shows; every write is a service of
:mod:`bulkupload.services.fixes`, its own transaction under the upload's row lock.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from . import conf, services
from .exceptions import BatchNotReady, ScopeChanged
from .models import UploadBatch, UploadRow
from .services.fixes import (
    KEEP_FIRST,
    KEEP_LAST,
    KEEP_NEITHER,
    SCOPE_ALL,
    SCOPE_INVALID,
    EditResult,
    JSONSet,
    StaleRow,
    check_column,
    keyed_rows,
    replace_targets,
)

__all__ = [
    "KEEP_FIRST",
    "KEEP_LAST",
    "KEEP_NEITHER",
    "SCOPE_ALL",
    "SCOPE_INVALID",
    "EditResult",
    "JSONSet",
    "StaleRow",
    "check_column",
    "count_replacements",
    "exclude_rows",
    "has_duplicates",
    "include_rows",
    "replace_targets",
    "replace_values",
    "resolve_duplicates",
    "save_edits",
    "suggestions",
]


def save_edits(
    batch: UploadBatch,
    *,
    edits: dict[int, dict[str, str]],
    seen: dict[int, dict[str, str]] | None = None,
    versions: dict[int, int] | None = None,
) -> EditResult:
    """Write the cells the user changed, then revalidate the rows written.

    ``edits``: row id → cells as posted. ``seen``: row id → the cells as the page
    showed them (missing: the stored cells); a cell equal to what was shown is no
    edit, so a row is written only when one of its cells really changed.
    ``versions``: row id → the row's ``version`` the page showed. A row saved since
    (another tab, the API) is still written when none of the cells this edit
    changes moved in between (the other edit is kept); otherwise it is reported
    in :attr:`EditResult.stale` with its current cells and left as it is.
    """
    result = services.save_cell_edits(batch=batch, edits=edits, seen=seen or {}, versions=versions or {})
    result.saved.sort()
    result.stale.sort(key=lambda stale: stale.row_number)
    return result


# --- bulk find and replace ---------------------------------------------------------------


def count_replacements(batch: UploadBatch, *, column: str, find: str, scope: str) -> int:
    """How many rows :func:`replace_values` would change, for the page that asks before it runs."""
    return replace_targets(batch, column=column, find=find, scope=scope).count()


def replace_values(batch: UploadBatch, *, column: str, find: str, replace: str, scope: str = SCOPE_ALL) -> int:
    """Replace ``find`` by ``replace`` in ``column`` of every matching row in one UPDATE, then revalidate them in chunks.

    Surrounding spaces do not count. Returns how many rows changed.
    """
    return services.replace_cells(batch=batch, column=column, find=find.strip(), replace=replace.strip(), scope=scope)


# --- excluding rows and duplicate keys -----------------------------------------------------


def exclude_rows(batch: UploadBatch, *, row_ids: list[int]) -> int:
    """Leave rows out of the upload (neither applied nor invalid); how many were excluded. File rules run again."""
    return services.exclude_rows(batch=batch, row_ids=row_ids)


def include_rows(batch: UploadBatch, *, row_ids: list[int]) -> int:
    """Take excluded rows back into the upload and check them again; how many came back."""
    return services.include_rows(batch=batch, row_ids=row_ids)


def has_duplicates(batch: UploadBatch) -> bool:
    """Whether included rows of ``batch`` share a key (what "keep the first/last/neither" resolves); one EXISTS query."""
    if not batch.invalid_count:
        return False  # a duplicate is always invalid
    siblings = keyed_rows(UploadRow.objects.filter(batch_id=batch.pk, natural_key=OuterRef("natural_key"))).exclude(pk=OuterRef("pk"))
    return keyed_rows(batch.rows.all()).filter(Exists(siblings)).exists()


def resolve_duplicates(batch: UploadBatch, *, keep: str) -> int:
    """For every key shared by several rows, exclude all but the first (or the last, or all of them); how many were excluded."""
    if keep not in (KEEP_FIRST, KEEP_LAST, KEEP_NEITHER):
        raise BatchNotReady(_("Choose which of the duplicate rows to keep."))
    return services.exclude_duplicates(batch=batch, keep=keep)


def suggestions(batch: UploadBatch) -> dict[str, tuple[str, ...]]:
    """Lookup column key → the values its edit boxes suggest: the upload's own scope's (never another tenant's), and
    none for a column with more than ``SUGGESTIONS_MAX`` (a list that long helps nobody and costs every page)."""
    limit = conf.get("SUGGESTIONS_MAX")
    if not limit:
        return {}
    try:
        spec, scope = services.batch_scope(batch)
    except ScopeChanged:
        return {}
    return spec.suggestions(scope, limit)
