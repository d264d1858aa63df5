"""Fixes in the preview: cells the user types, bulk find-and-replace, rows excluded and taken back, duplicate keys.

Each public function is its own transaction, locks the upload (``SELECT … FOR UPDATE``)
and refuses unless it is ``ready``, so a fix racing a confirm waits for it and is then
refused. What to change is decided by the caller (:mod:`bulkupload.fixing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Func, JSONField, Max, OuterRef, QuerySet, Value
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..bulk import update_values
from ..exceptions import BatchNotReady, NoFileYet, StaleRows
from ..models import UploadBatch, UploadRow
from ..spec import UploadSpec
from .base import READY, Status, batch_scope, lock_batch
from .validating import _finish_validation, _revalidate, revalidate_rows

#: Which rows a bulk replace may change.
SCOPE_ALL, SCOPE_INVALID = "all", "invalid"
#: Which row of each group of rows with one key the user keeps.
KEEP_FIRST, KEEP_LAST, KEEP_NEITHER = "first", "last", "neither"


def save_fixes(*, batch: UploadBatch, edits: dict[int, dict[str, str]], versions: dict[int, int] | None = None) -> UploadBatch:
    """Replace cells of rows the user fixed in the preview, then revalidate; return the batch as it now stands.

    The batch is locked and must be ``ready`` inside the transaction: a fix racing a
    confirm waits for it and is then refused with :class:`BatchNotReady`, never
    un-applying the upload. ``versions`` (row id → the row's ``version`` the user
    saw): each such row is written only if it is still at that version; otherwise
    :class:`StaleRows` names the rows written since and nothing is saved.
    """
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        if not locked.source_file and not locked.total_rows:
            raise NoFileYet(_("Upload a file first."))
        rows = list(locked.rows.filter(pk__in=list(edits)).only("id", "row_number", "values"))
        for row in rows:
            row.values = {**row.values, **{k: str(v).strip() for k, v in edits[row.pk].items()}}
            row.version = F("version") + 1
        _write_fixed_cells(rows, versions or {})
        _revalidate(locked, [row.pk for row in rows])
    return locked


def _write_fixed_cells(rows: list[UploadRow], versions: dict[int, int]) -> None:
    """Write the rows' cells; a row with an expected version is written only at that version (UPDATE … WHERE version)."""
    stale = [
        row.row_number
        for row in rows
        if row.pk in versions
        and not UploadRow.objects.filter(pk=row.pk, version=versions[row.pk]).update(values=row.values, version=F("version") + 1)
    ]
    if stale:
        shown = ", ".join(str(number) for number in sorted(stale))
        raise StaleRows(
            ngettext(
                "Row %(rows)s was changed since you loaded it; load it again and repeat your change.",
                "Rows %(rows)s were changed since you loaded them; load them again and repeat your changes.",
                len(stale),
            )
            % {"rows": shown},
            sorted(stale),
        )
    UploadRow.objects.bulk_update([row for row in rows if row.pk not in versions], ["values", "version"])


# --- cell edits with the version the page showed -------------------------------------------


@dataclass
class StaleRow:
    """A row someone saved since the user loaded it, in a cell the user changed too: nothing of it was written."""

    row_id: int
    row_number: int
    version: int
    values: dict[str, Any]


@dataclass
class EditResult:
    """What :func:`save_cell_edits` did: the rows whose changes are now stored (written now, or by an earlier save of
    the same change, such as the page's script), and the rows it refused as stale."""

    batch: UploadBatch
    saved: list[int] = field(default_factory=list)
    stale: list[StaleRow] = field(default_factory=list)


def save_cell_edits(
    *, batch: UploadBatch, edits: dict[int, dict[str, str]], seen: dict[int, dict[str, str]], versions: dict[int, int]
) -> EditResult:
    """Write the cells the user changed, then revalidate the rows written (see :func:`bulkupload.fixing.save_edits`)."""
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        spec, _scope = batch_scope(locked)
        keys = {column.key for column in spec.columns}
        result = EditResult(locked)
        writes = []
        rows = locked.rows.filter(pk__in=list(edits)).exclude(status=Status.EXCLUDED).only("id", "row_number", "values", "version")
        for row in rows:
            shown = {**row.values, **{k: v for k, v in seen.get(row.pk, {}).items() if k in keys}}
            changed = {k: str(v).strip() for k, v in edits[row.pk].items() if k in keys and str(v).strip() != _text(shown.get(k)).strip()}
            if not changed:
                continue
            # A cell already holding the new value was saved before (by the page's script as the user left it).
            pending = {k: v for k, v in changed.items() if _text(row.values.get(k)) != v}
            if not pending:
                result.saved.append(row.row_number)  # saved already, not written again
                continue
            at = versions.get(row.pk)
            if at is not None and at != row.version and any(_text(row.values.get(k)) != _text(shown.get(k)) for k in pending):
                result.stale.append(StaleRow(row.pk, row.row_number, row.version, row.values))
                continue
            writes.append((row.pk, {**row.values, **pending}, row.version + 1))
            result.saved.append(row.row_number)
        update_values(UploadRow, ["values", "version"], writes)
        if writes:
            _revalidate(locked, [pk for pk, _values, _version in writes])
    return result


def _text(value: Any) -> str:
    """A cell as an edit box shows it."""
    return "" if value is None else str(value)


# --- bulk find and replace ---------------------------------------------------------------


class JSONSet(Func):
    """``cells`` with the text of one key set to ``text``, computed by the database (one UPDATE for any number of rows)."""

    output_field = JSONField()

    def __init__(self, cells: str, key: str, text: str) -> None:
        self.key = key
        super().__init__(F(cells), Value(text))

    def as_sql(self, compiler, connection, **extra: Any):
        cells, cells_params = compiler.compile(self.source_expressions[0])
        text, text_params = compiler.compile(self.source_expressions[1])
        path = '$."{}"'.format(self.key.replace('"', ""))
        if connection.vendor == "postgresql":
            return f"jsonb_set({cells}, ARRAY[%s]::text[], to_jsonb(({text})::text))", [*cells_params, self.key, *text_params]
        # SQLite and MySQL: json_set with a JSON path.
        return f"JSON_SET({cells}, %s, {text})", [*cells_params, path, *text_params]


def replace_targets(batch: UploadBatch, *, column: str, find: str, scope: str) -> QuerySet[UploadRow]:
    """The rows a replace of ``find`` in ``column`` changes: the cell holds exactly ``find`` (surrounding spaces aside)."""
    rows = batch.rows.exclude(status=Status.EXCLUDED).filter(**{f"values__{column}": find.strip()})
    return rows.filter(status=Status.INVALID) if scope == SCOPE_INVALID else rows


def check_column(spec: UploadSpec, column: str) -> None:
    """:class:`BatchNotReady` naming the column when ``column`` is not one of the spec's."""
    if column not in {c.key for c in spec.columns}:
        raise BatchNotReady(_("There is no column “%(column)s” in this upload.") % {"column": column[:100]})


def replace_cells(*, batch: UploadBatch, column: str, find: str, replace: str, scope: str) -> int:
    """Set ``column`` to ``replace`` in every row holding ``find`` in one UPDATE, then revalidate those rows in chunks.

    Returns how many rows changed. The changed rows are revalidated by keyset chunks
    of ``CHUNK_SIZE`` (one read and one write per chunk), then the file rules run once.
    """
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        spec, _scope = batch_scope(locked)
        check_column(spec, column)
        if find == replace:
            return 0
        targets = replace_targets(locked, column=column, find=find, scope=scope)
        # Changed rows are marked by their new version; the UPDATE's own WHERE picks them, never a list of ids.
        mark = _next_mark(locked)
        changed = UploadRow.objects.filter(pk__in=targets.values("pk")).update(values=JSONSet("values", column, replace), version=mark)
        if changed:
            revalidate_rows(batch=locked, rows=locked.rows.filter(version=mark))
    return changed


def _next_mark(batch: UploadBatch) -> int:
    """A version higher than every row's of ``batch``: rows set to it are exactly the ones one bulk write changed."""
    return (batch.rows.aggregate(top=Max("version"))["top"] or 0) + 1


# --- excluding rows and duplicate keys -----------------------------------------------------


def exclude_rows(*, batch: UploadBatch, row_ids: list[int]) -> int:
    """Leave rows out of the upload (neither applied nor invalid); how many were excluded. File rules run again."""
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        spec, scope = batch_scope(locked)
        count = (
            locked.rows.filter(pk__in=row_ids)
            .exclude(status=Status.EXCLUDED)
            .update(status=Status.EXCLUDED, file_errors={}, has_file_errors=False, version=F("version") + 1)
        )
        _finish_validation(locked, spec, scope, allowed=READY)
    return count


def include_rows(*, batch: UploadBatch, row_ids: list[int]) -> int:
    """Take excluded rows back into the upload and check them again; how many came back."""
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        batch_scope(locked)  # its scope still exists and is the user's
        mark = _next_mark(locked)
        count = locked.rows.filter(pk__in=row_ids, status=Status.EXCLUDED).update(status=F("match"), version=mark)
        revalidate_rows(batch=locked, rows=locked.rows.filter(version=mark))
    return count


def keyed_rows(rows: QuerySet[UploadRow]) -> QuerySet[UploadRow]:
    """Rows that take part in duplicate checks: included, valid by themselves, with a key."""
    return rows.exclude(status=Status.EXCLUDED).exclude(match=Status.INVALID).exclude(natural_key="")


def exclude_duplicates(*, batch: UploadBatch, keep: str) -> int:
    """For every key shared by several rows, exclude all but the first (or the last, or all of them); how many were excluded.

    A row is excluded when another included row with its key comes before it
    (keep the first), after it (keep the last), or anywhere (keep neither).
    """
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        spec, scope = batch_scope(locked)
        others = keyed_rows(UploadRow.objects.filter(batch_id=locked.pk, natural_key=OuterRef("natural_key"))).exclude(pk=OuterRef("pk"))
        if keep == KEEP_FIRST:
            others = others.filter(row_number__lt=OuterRef("row_number"))
        elif keep == KEEP_LAST:
            others = others.filter(row_number__gt=OuterRef("row_number"))
        losers = list(keyed_rows(locked.rows.all()).filter(Exists(others)).values_list("pk", flat=True))
        # Read first, then written by id: the subquery must not see rows the same UPDATE already excluded.
        count = 0
        for start in range(0, len(losers), 500):
            count += UploadRow.objects.filter(pk__in=losers[start : start + 500]).update(
                status=Status.EXCLUDED, file_errors={}, has_file_errors=False, version=F("version") + 1
            )
        _finish_validation(locked, spec, scope, allowed=READY)
    return count
