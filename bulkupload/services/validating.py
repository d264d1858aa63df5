"""Validating: the staged rows checked again (all, or those changed), the file rules run, the counts kept."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from .. import progress
from ..bulk import update_rows, update_values
from ..models import UploadBatch, UploadRow
from ..reading.cells import current_problems
from ..spec import StagedRow, UploadSpec
from ..validation import (
    DuplicateKeyRule,
    FedRules,
    RowResult,
    RowValidator,
    SharedValues,
    decode_values,
    encode_values,
    key_text,
    run_file_rules,
)
from .base import READY, Status, _chunks, _counts, batch_scope, lock_batch, save_fields


def validate_batch(*, batch: UploadBatch, row_ids: list[int] | None = None) -> UploadBatch:
    """Validate rows (all, or ``row_ids``) of a ready batch, then the file rules over all rows; update counts."""
    with transaction.atomic():
        lock_batch(batch.pk, READY)
        _revalidate(batch, row_ids)
    return batch


def _revalidate(batch: UploadBatch, row_ids: list[int] | None) -> None:
    """The work of :func:`validate_batch`, inside the caller's transaction and under its lock of the batch."""
    rows = batch.rows.exclude(status=Status.EXCLUDED)  # a row the user excluded stays excluded
    if row_ids is not None:
        rows = rows.filter(pk__in=row_ids)
    revalidate_rows(batch=batch, rows=rows)


def revalidate_rows(*, batch: UploadBatch, rows: QuerySet[UploadRow]) -> None:
    """Check ``rows`` of ``batch`` again chunk by chunk (with the date order the user answered), then the file rules
    and counts; inside the caller's transaction and under its lock of the batch."""
    spec, scope = batch_scope(batch)
    validator = RowValidator(spec, scope, date_orders=batch.date_orders)
    for chunk in _chunks(rows, "values"):
        results = validator.validate_chunk([raw for _row_id, raw in chunk])
        found = [(row_id, *_result_values(spec, raw, result)) for (row_id, raw), result in zip(chunk, results, strict=True)]
        update_values(UploadRow, RESULT_FIELDS, found)
        progress.advance(len(chunk))
    _finish_validation(batch, spec, scope, allowed=READY)


RESULT_FIELDS = ["errors", "match", "status", "data", "natural_key", "target_pk", "changes", "seen"]


def _result_values(spec: UploadSpec, raw: dict[str, Any], result: RowResult) -> tuple:
    """The values of :data:`RESULT_FIELDS` for a row with cells ``raw``."""
    if problems := current_problems(raw):
        # What the reader found (an Excel error, a formula without result, a short row) outranks the form.
        return {**result.errors, **problems}, Status.INVALID, Status.INVALID, None, "", "", {}, None
    if result.values is None:
        return result.errors, Status.INVALID, Status.INVALID, None, "", "", {}, None
    target, seen = result.target, None
    if target is not None:
        # What the preview shows as "old": confirming checks that the record still holds it.
        changed = [column.field for column in spec.columns if column.key in result.changes and column.field]
        seen = encode_values({name: getattr(target, name) for name in changed})
    target_pk = str(target.pk) if target is not None else ""
    natural_key = key_text(spec.key_of(result.values)) if spec.matches_records else ""  # "" is never a duplicate
    return result.errors, result.match, result.match, encode_values(result.values), natural_key, target_pk, result.changes, seen


def _finish_validation(
    batch: UploadBatch, spec: UploadSpec, scope: Any, *, allowed: tuple[str, ...], fed: FedRules | None = None, **fields: Any
) -> None:
    """File rules and counts, then the batch is ready: only the fields validation owns are written, and only from ``allowed``.

    ``fed``: the runs of file rules that staging handed every valid row as it read them (the others read the rows back).
    """
    _apply_file_rules(batch, spec, scope, fed=fed)
    save_fields(batch, allowed, **fields, **_counts(batch), status=UploadBatch.Status.READY, validated_at=timezone.now())


def _apply_file_rules(batch: UploadBatch, spec: UploadSpec, scope: Any, *, fed: FedRules | None) -> None:
    rows = batch.rows.exclude(status=Status.EXCLUDED)  # an excluded row is no duplicate and breaks no file rule
    rows.filter(has_file_errors=True).update(file_errors={}, has_file_errors=False, status=F("match"))
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    valid = rows.exclude(match=Status.INVALID)
    duplicate_keys = list(
        valid.exclude(natural_key="").values("natural_key").annotate(n=Count("id")).filter(n__gt=1).values_list("natural_key", flat=True)
    )
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for start in range(0, len(duplicate_keys), 500):
        keys = duplicate_keys[start : start + 500]
        for key, row_id, number in valid.filter(natural_key__in=keys).values_list("natural_key", "id", "row_number"):
            groups[key].append((row_id, number))
    for row_id, column, message in DuplicateKeyRule().check_groups(groups):
        found[row_id][column].append(message)

    def staged_rows() -> Iterator[StagedRow]:
        shared = SharedValues()
        for chunk in _chunks(valid, "row_number", "data", "values"):
            for row_id, number, data, raw in chunk:
                yield StagedRow(row_id, number, shared(decode_values(spec.model, data)), shared(raw))

    for row_id, column, message in run_file_rules(spec, scope, staged_rows, fed=fed):
        found[row_id][column].append(message)
    flagged = [
        UploadRow(id=row_id, file_errors={k: list(v) for k, v in errors.items()}, has_file_errors=True, status=Status.INVALID)
        for row_id, errors in found.items()
    ]
    update_rows(UploadRow, flagged, ["file_errors", "has_file_errors", "status"])
