"""Fixing a ready upload in the preview: cell edits, bulk find-and-replace, excluding rows, duplicate keys.

Services like those in :mod:`bulkupload.services`: each public function is its own
transaction, locks the upload (``SELECT … FOR UPDATE``) and refuses unless it is
``ready``, so a fix racing a confirm waits for it and is then refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Func, JSONField, OuterRef, QuerySet, Value
from django.utils.translation import gettext as _

from . import conf, progress, services
from .bulk import update_values
from .exceptions import BatchNotReady, ScopeChanged
from .models import UploadBatch, UploadRow
from .spec import UploadSpec
from .validation import RowValidator

Status = UploadRow.Status

#: Which rows a bulk replace may change.
SCOPE_ALL, SCOPE_INVALID = "all", "invalid"
#: Which row of each group of rows with one key the user keeps.
KEEP_FIRST, KEEP_LAST, KEEP_NEITHER = "first", "last", "neither"


@dataclass
class StaleRow:
    """A row someone saved since the user loaded it, in a cell the user changed too: nothing of it was written."""

    row_id: int
    row_number: int
    version: int
    values: dict[str, Any]


@dataclass
class EditResult:
    """What :func:`save_edits` did: the rows whose changes are now stored (written now, or by an earlier save of the
    same change, such as the page's script), and the rows it refused as stale."""

    batch: UploadBatch
    saved: list[int] = field(default_factory=list)
    stale: list[StaleRow] = field(default_factory=list)


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
    seen, versions = seen or {}, versions or {}
    with transaction.atomic():
        locked = services.lock_batch(batch.pk, services.READY)
        spec, _scope = services.batch_scope(locked)
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
            services._revalidate(locked, [pk for pk, _values, _version in writes])
    result.saved.sort()
    result.stale.sort(key=lambda stale: stale.row_number)
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


def count_replacements(batch: UploadBatch, *, column: str, find: str, scope: str) -> int:
    """How many rows :func:`replace_values` would change, for the page that asks before it runs."""
    return replace_targets(batch, column=column, find=find, scope=scope).count()


def replace_values(batch: UploadBatch, *, column: str, find: str, replace: str, scope: str = SCOPE_ALL) -> int:
    """Replace ``find`` by ``replace`` in ``column`` of every matching row in one UPDATE, then revalidate them in chunks.

    Returns how many rows changed. The changed rows are revalidated by keyset chunks
    of ``CHUNK_SIZE`` (one read and one write per chunk), then the file rules run once.
    """
    find, replace = find.strip(), replace.strip()
    with transaction.atomic():
        locked = services.lock_batch(batch.pk, services.READY)
        spec, _scope = services.batch_scope(locked)
        check_column(spec, column)
        if find == replace:
            return 0
        targets = replace_targets(locked, column=column, find=find, scope=scope)
        # Changed rows are marked by their new version; the UPDATE's own WHERE picks them, never a list of ids.
        mark = _next_mark(locked)
        changed = UploadRow.objects.filter(pk__in=targets.values("pk")).update(values=JSONSet("values", column, replace), version=mark)
        if changed:
            _revalidate_where(locked, spec, locked.rows.filter(version=mark))
    return changed


def _next_mark(batch: UploadBatch) -> int:
    """A version higher than every row's of ``batch``: rows set to it are exactly the ones one bulk write changed."""
    from django.db.models import Max

    return (batch.rows.aggregate(top=Max("version"))["top"] or 0) + 1


def _revalidate_where(batch: UploadBatch, spec: UploadSpec, rows: QuerySet[UploadRow]) -> None:
    """Revalidate ``rows`` chunk by chunk, then the file rules and counts (inside the caller's lock)."""
    scope = services.batch_scope(batch)[1]
    validator = RowValidator(spec, scope)
    for chunk in services._chunks(rows, "values"):
        results = validator.validate_chunk([raw for _row_id, raw in chunk])
        found = [(row_id, *services._result_values(spec, raw, result)) for (row_id, raw), result in zip(chunk, results, strict=True)]
        update_values(UploadRow, services.RESULT_FIELDS, found)
        progress.advance(len(chunk))
    services._finish_validation(batch, spec, scope, allowed=services.READY)


def check_column(spec: UploadSpec, column: str) -> None:
    """:class:`BatchNotReady` naming the column when ``column`` is not one of the spec's."""
    if column not in {c.key for c in spec.columns}:
        raise BatchNotReady(_("There is no column “%(column)s” in this upload.") % {"column": column[:100]})


# --- excluding rows and duplicate keys -----------------------------------------------------


def exclude_rows(batch: UploadBatch, *, row_ids: list[int]) -> int:
    """Leave rows out of the upload (neither applied nor invalid); how many were excluded. File rules run again."""
    with transaction.atomic():
        locked = services.lock_batch(batch.pk, services.READY)
        spec, scope = services.batch_scope(locked)
        count = (
            locked.rows.filter(pk__in=row_ids)
            .exclude(status=Status.EXCLUDED)
            .update(status=Status.EXCLUDED, file_errors={}, has_file_errors=False, version=F("version") + 1)
        )
        services._finish_validation(locked, spec, scope, allowed=services.READY)
    return count


def include_rows(batch: UploadBatch, *, row_ids: list[int]) -> int:
    """Take excluded rows back into the upload and check them again; how many came back."""
    with transaction.atomic():
        locked = services.lock_batch(batch.pk, services.READY)
        spec, _scope = services.batch_scope(locked)
        mark = _next_mark(locked)
        count = locked.rows.filter(pk__in=row_ids, status=Status.EXCLUDED).update(status=F("match"), version=mark)
        _revalidate_where(locked, spec, locked.rows.filter(version=mark))
    return count


def has_duplicates(batch: UploadBatch) -> bool:
    """Whether included rows of ``batch`` share a key (what "keep the first/last/neither" resolves); one EXISTS query."""
    if not batch.invalid_count:
        return False  # a duplicate is always invalid
    siblings = _keyed(UploadRow.objects.filter(batch_id=batch.pk, natural_key=OuterRef("natural_key"))).exclude(pk=OuterRef("pk"))
    return _keyed(batch.rows.all()).filter(Exists(siblings)).exists()


def resolve_duplicates(batch: UploadBatch, *, keep: str) -> int:
    """For every key shared by several rows, exclude all but the first (or the last, or all of them); how many were excluded.

    One UPDATE over the upload: a row is excluded when another included row with its
    key comes before it (keep the first), after it (keep the last), or anywhere (keep neither).
    """
    if keep not in (KEEP_FIRST, KEEP_LAST, KEEP_NEITHER):
        raise BatchNotReady(_("Choose which of the duplicate rows to keep."))
    with transaction.atomic():
        locked = services.lock_batch(batch.pk, services.READY)
        spec, scope = services.batch_scope(locked)
        others = _keyed(UploadRow.objects.filter(batch_id=locked.pk, natural_key=OuterRef("natural_key"))).exclude(pk=OuterRef("pk"))
        if keep == KEEP_FIRST:
            others = others.filter(row_number__lt=OuterRef("row_number"))
        elif keep == KEEP_LAST:
            others = others.filter(row_number__gt=OuterRef("row_number"))
        losers = list(_keyed(locked.rows.all()).filter(Exists(others)).values_list("pk", flat=True))
        # Read first, then written by id: the subquery must not see rows the same UPDATE already excluded.
        count = 0
        for start in range(0, len(losers), 500):
            count += UploadRow.objects.filter(pk__in=losers[start : start + 500]).update(
                status=Status.EXCLUDED, file_errors={}, has_file_errors=False, version=F("version") + 1
            )
        services._finish_validation(locked, spec, scope, allowed=services.READY)
    return count


def _keyed(rows: QuerySet[UploadRow]) -> QuerySet[UploadRow]:
    """Rows that take part in duplicate checks: included, valid by themselves, with a key."""
    return rows.exclude(status=Status.EXCLUDED).exclude(match=Status.INVALID).exclude(natural_key="")


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
