"""The values step's writes: values mapped to allowed ones, date columns read one way, the user's choices kept.

What to map is decided by :mod:`bulkupload.valuecheck`; here it is written, each
function its own transaction. Mapping is set-based: one UPDATE per mapped value
over the staged rows, then only the rows it touched are revalidated in chunks.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Func, JSONField, Q

from .. import conf, fields
from ..models import COUNT_FIELDS, RememberedValues, UploadBatch, UploadRow
from ..spec import UploadSpec
from ..valuecheck import decide
from .base import READY, batch_scope, lock_batch
from .validating import validate_batch

_KEY = re.compile(r"^\w+$")


def apply_value_answers(
    *,
    batch: UploadBatch,
    mappings: dict[str, dict[str, str]],
    date_orders: dict[str, str] | None = None,
    check: dict[str, Any] | None = None,
) -> UploadBatch:
    """Map values (column key → {text in the file → allowed value, "" to leave it invalid}) and set date orders.

    One UPDATE per mapped value, then only the rows touched (all rows when a date column
    is now read month-first) are revalidated. ``check`` is merged into the batch's
    ``value_check``. The upload is locked and must be ready: :class:`BatchNotReady` otherwise.
    """
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        state = {**(locked.value_check or {}), **(check or {})}
        everything = False
        touched: set[int] = set()
        if date_orders is not None and date_orders != (state.get("dates") or {}):
            everything = fields.MONTH_FIRST in date_orders.values() or fields.MONTH_FIRST in (state.get("dates") or {}).values()
            if not everything:
                touched.update(locked.rows.filter(_any_error(date_orders)).values_list("pk", flat=True))
            state["dates"] = dict(date_orders)
        pairs = [(key, text, target) for key, chosen in mappings.items() for text, target in chosen.items() if _KEY.match(key)]
        if pairs and not everything:
            where = Q()
            for key, text, _target in pairs:
                where |= _rows_with(key, text)
            touched.update(locked.rows.filter(where).values_list("pk", flat=True))
        applied = {key: dict(chosen) for key, chosen in (state.get("applied") or {}).items()}
        for key, text, target in pairs:
            _write(locked, key, text, target)
            if target:
                applied.setdefault(key, {})[text] = target
            else:
                applied.get(key, {}).pop(text, None)
        state["applied"] = {key: chosen for key, chosen in applied.items() if chosen}
        UploadBatch.objects.filter(pk=locked.pk).update(value_check=state)
        locked.value_check = state
        batch.value_check = state
        if everything or touched:
            validate_batch(batch=locked, row_ids=None if everything else sorted(touched))
            for name in (*COUNT_FIELDS.values(), "total_rows", "status", "validated_at", "updated_at"):
                setattr(batch, name, getattr(locked, name))  # the caller's batch shows the counts as now stored
    return locked


def prepare_values(*, batch: UploadBatch, user: Any) -> dict[str, Any]:
    """Look at a freshly staged upload once: read its date columns one way each and apply ``user``'s remembered mappings.

    Staging calls it as its last step, so a page that shows the upload only reads.
    Returns the batch's ``value_check`` (unchanged when it was prepared already or is not staged).
    """
    if (batch.value_check or {}).get("ready") or not batch.is_staged:
        return batch.value_check or {}
    spec, scope = batch_scope(batch)
    orders, check = decide(batch, spec, scope, user)
    return apply_value_answers(batch=batch, mappings=check["automatic"], date_orders=orders, check=check).value_check


def forget_value_check(*, batch: UploadBatch) -> None:
    """Forget what was decided for the upload's previous file (its rows are about to be replaced)."""
    UploadBatch.objects.filter(pk=batch.pk).update(value_check={})
    batch.value_check = {}


def remember_value_choices(*, user: Any, spec: UploadSpec, choices: dict[str, dict[str, str]]) -> None:
    """Keep ``choices`` (column key → {normalised text → allowed value}) as what ``user`` maps for ``spec``."""
    RememberedValues.objects.update_or_create(owner=user, spec=spec.slug, defaults={"choices": choices})


def _any_error(keys: dict[str, str]) -> Q:
    where = Q()
    for key in keys:
        where |= Q(errors__has_key=key)
    return where


def _rows_with(key: str, text: str) -> Q:
    """Rows whose cell ``key`` the file had as ``text``: still holding it, or replaced by a mapping before."""
    never_mapped = Q(originals__isnull=True) | ~Q(originals__has_key=key)
    return Q(**{f"originals__{key}": text}) | (Q(**{f"values__{key}": text}) & never_mapped)


class _SetKey(Func):
    """A JSON object with one key set to a text: ``json_set`` (SQLite), ``jsonb_set`` (PostgreSQL)."""

    output_field = JSONField()

    def __init__(self, column: str, key: str, text: str) -> None:
        super().__init__(F(column))
        self.key, self.text = key, text

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"json_set(COALESCE({sql}, '{{}}'), %s, %s)", (*params, f'$."{self.key}"', self.text)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"jsonb_set(COALESCE({sql}, '{{}}'::jsonb), %s::text[], to_jsonb(%s::text))", (*params, f"{{{self.key}}}", self.text)


def _write(batch: UploadBatch, key: str, text: str, target: str) -> None:
    """One statement: every row of ``batch`` whose cell ``key`` the file had as ``text`` now holds ``target``
    (``text`` again when ``target`` is ""), its original kept in ``originals``."""
    rows = UploadRow.objects.filter(Q(batch=batch) & _rows_with(key, text))
    written = target or text
    if connection.vendor in ("sqlite", "postgresql"):
        rows.update(values=_SetKey("values", key, written), originals=_SetKey("originals", key, text), version=F("version") + 1)
        return
    # Other databases: the same change, written in chunks (no portable JSON update).
    size = conf.get("CHUNK_SIZE")
    found = list(rows.only("id", "values", "originals"))
    for chunk in (found[start : start + size] for start in range(0, len(found), size)):
        for row in chunk:
            row.values = {**row.values, key: written}
            row.originals = {**(row.originals or {}), key: text}
            row.version = F("version") + 1
        UploadRow.objects.bulk_update(chunk, ["values", "originals", "version"])
