"""Applying a confirmed upload to the target model, and rolling it back: services, like the rest of :mod:`bulkupload.services`.

Each runs in one transaction under the batch's row lock, re-checks the batch's
status there, locks the target records it matched (``SELECT … FOR UPDATE``)
before deciding anything from their values, writes only the fields it changes,
and checks how many rows each write touched: a record deleted meanwhile is never
reported as updated. Applying also compares each record it would update with
what the preview showed, so a change someone made since is not overwritten
without the user's say.
"""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import models, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import progress, signals
from ..bulk import insert_records, refresh_statistics, update_rows, update_values
from ..exceptions import BatchGone, ChangedSincePreview, InvalidRowsLeft, RecordsVanished, RollbackConflict, ScopeChanged
from ..models import UploadBatch, UploadRow
from ..spec import UPDATE, UploadSpec
from ..validation import changed_fields, decode_values, encode_values, find_existing
from . import base

Status = UploadRow.Status
Outcome = UploadRow.Outcome
OnChanged = UploadBatch.OnChanged
#: Rows described, old → now → file, when a confirm stops for records changed since the preview.
CHANGED_SHOWN = 20


def apply_batch(
    *, batch_id: Any, overwrite: bool = True, skip_invalid: bool = False, queued: bool = False, on_changed: str | None = None
) -> tuple[UploadBatch, bool]:
    """Write the batch's rows to the target model in one transaction, exactly once.

    Returns the batch and whether this call applied it (False when it already
    was: a double click or a second tab). Keys are checked again inside the
    transaction, so a record created since the preview becomes an update.
    ``queued``: the batch was claimed for a task worker (status ``applying``).
    ``on_changed`` (:class:`UploadBatch.OnChanged`): what to do with records
    someone changed after the preview showed them: stop with
    :class:`ChangedSincePreview` naming them (the default), overwrite them, or
    keep them; None takes the choice stored on the batch for a queued apply, else stops.
    Refuses with :class:`ScopeChanged` when the owner left the upload's scope.
    """
    claimable = (UploadBatch.Status.APPLYING,) if queued else base.READY
    with transaction.atomic():
        batch = UploadBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None:
            raise BatchGone(_("This upload no longer exists; please upload the file again."))
        if batch.status not in claimable:
            return batch, False
        if batch.invalid_count and not skip_invalid:
            raise invalid_rows_left(batch.invalid_count)
        spec, scope = base.batch_scope(batch)
        if on_changed is None:  # a queued apply follows the choice stored with it; a direct call stops by default
            on_changed = batch.on_changed if queued else OnChanged.STOP
        applied = (UploadBatch.Status.APPLIED,)
        now = timezone.now()
        base.save_fields(
            batch,
            claimable,
            status=applied[0],
            applied_at=now,
            overwrite=overwrite,
            skip_invalid=skip_invalid,
            on_changed=on_changed,
            changed_count=0,
        )
        counts = RowWriter(batch, spec, scope, overwrite=overwrite, on_changed=on_changed).run()
        _record_outcome(batch, counts)
    return batch, True


def _record_outcome(batch: UploadBatch, counts: dict[str, int]) -> None:
    """The applied batch's counts (the rows not applied marked skipped); its file deleted and the signal sent once committed."""
    skipped = batch.rows.filter(status__in=[Status.INVALID, Status.EXCLUDED]).update(outcome=Outcome.SKIPPED)
    base.save_fields(
        batch,
        (UploadBatch.Status.APPLIED,),
        created_count=counts[Outcome.CREATED],
        updated_count=counts[Outcome.UPDATED],
        skipped_count=skipped + counts[Outcome.KEPT] + counts[Outcome.SKIPPED],
    )
    source = batch.source_file.name
    transaction.on_commit(lambda: base._delete_file(source) if source else None)
    transaction.on_commit(lambda: signals.batch_applied.send(sender=UploadBatch, batch=batch))


def invalid_rows_left(count: int) -> InvalidRowsLeft:
    """The refusal to apply ``count`` invalid rows the user did not choose to skip."""
    return InvalidRowsLeft(
        ngettext(
            "%(count)d row is invalid: fix it or choose to skip it.",
            "%(count)d rows are invalid: fix them or choose to skip them.",
            count,
        )
        % {"count": count}
    )


class RowWriter:
    """Writes a claimed batch's valid rows, chunk by chunk, into the target model."""

    def __init__(self, batch: UploadBatch, spec: UploadSpec, scope: Any, *, overwrite: bool, on_changed: str) -> None:
        self.batch, self.spec, self.scope = batch, spec, scope
        self.overwrite, self.on_changed = overwrite, on_changed
        self.model = spec.model
        self.write_fields = spec.write_fields()
        self.batch_attr = self.model._meta.get_field(spec.batch_field).attname if spec.batch_field else None
        self.extra = {self.batch_attr: batch.pk} if self.batch_attr else {}
        self.kept_fields = self.write_fields + ([self.batch_attr] if self.batch_attr else [])
        self.scope_values = spec.scope_values(scope)
        self.counts: dict[str, int] = defaultdict(int)
        #: Rows whose record changed since the preview: (row id, record, the fields that differ from what it showed).
        self.changed: list[tuple[int, models.Model, list[str]]] = []
        self.changed_count = 0

    def run(self) -> dict[str, int]:
        """Decide each row's outcome and write it; the counts of outcomes.

        Raises :class:`ChangedSincePreview` (after reading every row, so the count
        is complete) when records changed since the preview and the user has not
        said what to do with them; the caller's transaction then writes nothing.

        The next chunk's staged values are decoded on a helper thread while this one
        waits for the database to write the current chunk (no query runs there).
        """
        created_so_far, analyzed = 0, False
        valid = self.batch.rows.exclude(status__in=[Status.INVALID, Status.EXCLUDED]).annotate(text=Cast("data", TextField()))
        chunks = base._chunks(valid, "text", "target_pk", "seen")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulkupload-decode") as decoder:
            chunk = next(chunks, None)
            decoding = decoder.submit(self.decode, chunk) if chunk is not None else None
            while chunk is not None and decoding is not None:
                values_of_rows, keys = decoding.result()
                existing = current_records(self.spec, self.scope, keys)
                creates, updates, outcomes = self.decide(chunk, values_of_rows, keys, existing)
                chunk = next(chunks, None)
                decoding = decoder.submit(self.decode, chunk) if chunk is not None else None
                if self.changed_count:
                    continue  # the confirm stops: nothing more is written, the rest is only counted
                self.write(creates, updates, outcomes)
                created_so_far += len(creates)
                if created_so_far >= base.ANALYZE_FROM_ROWS and not analyzed:
                    refresh_statistics(self.model)  # the table may have been empty when its statistics were last taken
                    analyzed = True
                progress.advance(len(values_of_rows))
        if self.changed_count:
            raise changed_error(self.spec, self.changed, self.changed_count)
        return self.counts

    def decode(self, chunk: list[tuple]) -> tuple[list[dict[str, Any]], list[tuple]]:
        """A chunk's staged values (JSON text) as model values, and their natural keys: pure Python, no query."""
        values_of_rows = [decode_values(self.model, json.loads(text)) for _row_id, text, _pk, _seen in chunk]
        return values_of_rows, [self.spec.key_of(values) for values in values_of_rows]

    def decide(self, chunk: list[tuple], values_of_rows: list[dict], keys: list[tuple], existing: dict[tuple, models.Model]) -> tuple:
        creates: list[tuple[int, dict[str, Any]]] = []  # (row id, the new record's attribute values)
        updates: list[models.Model] = []
        outcomes: list[tuple[int, str, str, Any]] = []  # (row id, outcome, target pk, previous values)
        for (row_id, _data, target_pk, seen), values, key in zip(chunk, values_of_rows, keys, strict=True):
            record = existing.get(key)
            previous = None
            if record is None and self.spec.import_mode == UPDATE:
                outcome = Outcome.SKIPPED  # its record was deleted since the preview; "update" never creates
            elif record is None:
                creates.append((row_id, {**self.scope_values, **values, **self.extra}))
                outcome = Outcome.CREATED
            elif not changed_fields(self.spec, record, values, self.write_fields):
                outcome = Outcome.UNCHANGED
            elif not self.overwrite:
                outcome = Outcome.KEPT
            elif (news := self.news(record, values, target_pk, seen)) and self.on_changed != OnChanged.OVERWRITE:
                outcome = Outcome.KEPT  # the user said keep them, or the confirm stops and shows them
                if self.on_changed == OnChanged.STOP:
                    self.changed_count += 1
                    if len(self.changed) < CHANGED_SHOWN:
                        self.changed.append((row_id, record, news))
            else:
                outcome, previous = Outcome.UPDATED, encode_values({name: getattr(record, name) for name in self.kept_fields})
                for name in self.write_fields:
                    setattr(record, name, values[name])
                if self.batch_attr:
                    setattr(record, self.batch_attr, self.batch.pk)
                updates.append(record)
            self.counts[outcome] += 1
            if record is not None or outcome == Outcome.SKIPPED:
                outcomes.append((row_id, outcome, "" if record is None else str(record.pk), previous))
        return creates, updates, outcomes

    def news(self, record: models.Model, values: dict[str, Any], target_pk: str, seen: Any) -> list[str]:
        if self.on_changed == OnChanged.OVERWRITE:
            return []  # the user's answer is known: no need to compare
        return changed_since_preview(self.spec, record, values, target_pk, seen, self.write_fields)

    def write(self, creates: list[tuple[int, dict[str, Any]]], updates: list[models.Model], outcomes: list[tuple]) -> None:
        pks = insert_records(self.model, [values for _row_id, values in creates])
        # The records are locked, so every update lands; a shortfall means one vanished all the same: write nothing.
        if update_rows(self.model, updates, self.kept_fields) != len(updates):
            raise RecordsVanished(
                _("Some entries were deleted or changed while this upload was being saved, so nothing was saved. Please confirm again.")
            )
        created = [(row_id, Outcome.CREATED, "" if pk is None else str(pk)) for (row_id, _values), pk in zip(creates, pks, strict=True)]
        update_values(UploadRow, ["outcome", "target_pk"], created)
        update_values(UploadRow, ["outcome", "target_pk", "previous"], outcomes)


def current_records(spec: UploadSpec, scope: Any, keys: list[tuple]) -> dict[tuple, models.Model]:
    """The records matching ``keys`` (natural key → record), locked and read again after the lock.

    Reading after the lock matters: a record deleted or changed by a transaction
    that held it (a rollback, another upload) is seen as it is once that one
    committed — gone, or with its new values — never as it was before.
    """
    found = find_existing(spec, scope, keys, related=False)
    if not found:
        return found
    model = spec.model
    pks = [record.pk for record in found.values()]
    fresh = {record.pk: record for record in model._base_manager.select_for_update().filter(pk__in=pks).order_by("pk")}
    current = {}
    for key, record in found.items():
        now = fresh.get(record.pk)
        if now is not None and tuple(getattr(now, name) for name in spec.key_fields) == key:
            current[key] = now
    return current


def changed_since_preview(
    spec: UploadSpec, record: models.Model, values: dict[str, Any], target_pk: str, seen: Any, write_fields: list[str] | None = None
) -> list[str]:
    """The written fields in which ``record`` differs from what the preview showed of it ([]: as shown).

    The preview showed, for a matched row, the row's own values except where
    ``seen`` holds the record's old ones; for a row previewed as new, no record at all.
    """
    if target_pk and seen is None:
        return []  # staged before previews were remembered: nothing to compare with
    if not target_pk or target_pk != str(record.pk):
        return changed_fields(spec, record, values, write_fields)  # created (or swapped) since the preview: all of it is news
    shown = {**values, **decode_values(spec.model, seen)} if seen else values
    names = spec.write_fields() if write_fields is None else write_fields
    return [name for name in names if name in shown and getattr(record, name) != shown[name]]


def changed_error(spec: UploadSpec, changed: list[tuple[int, models.Model, list[str]]], count: int) -> ChangedSincePreview:
    """The refusal that shows the first changed rows: for each differing column, old at preview → now → the file's value."""
    rows = UploadRow.objects.in_bulk([row_id for row_id, _record, _names in changed])
    described = []
    for row_id, record, names in changed:
        row = rows[row_id]
        now = spec.to_row_values(record)
        cells = [
            {
                "label": column.label,
                "previewed": row.changes.get(column.key, row.values.get(column.key, "")) if row.target_pk else None,
                "now": now.get(column.key, ""),
                "file": row.values.get(column.key, ""),
            }
            for column in spec.columns
            if column.field in names
        ]
        described.append({"row_number": row.row_number, "was_new": not row.target_pk, "cells": cells})
    message = ngettext(
        "%(count)d entry was changed by someone else after the preview, so nothing was saved. "
        "Choose to overwrite it with the file's values, to keep it, or go back.",
        "%(count)d entries were changed by someone else after the preview, so nothing was saved. "
        "Choose to overwrite them with the file's values, to keep them, or go back.",
        count,
    ) % {"count": count}
    return ChangedSincePreview(message, count=count, rows=described)


# --- rolling back ----------------------------------------------------------------------


def rollback_batch(*, batch_id: Any, force: bool = False) -> tuple[UploadBatch, bool]:
    """Undo an applied batch: delete what it created, restore what it updated.

    Refuses with :class:`RollbackConflict` naming the rows whose records were
    changed since (by hand or a later batch) unless ``force``, and when the
    owner no longer belongs to the upload's scope. Rolling back a batch that is
    not applied does nothing and returns False.
    """
    with transaction.atomic():
        batch = UploadBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != UploadBatch.Status.APPLIED:
            return batch, False
        try:
            spec, _scope = base.batch_scope(batch)
        except ScopeChanged as exc:
            raise RollbackConflict(str(exc), []) from None
        to_delete, to_restore = _rollback_plan(batch, spec, force=force)
        model = spec.model
        manager = model._default_manager
        deleted = 0
        for start in range(0, len(to_delete), 500):
            deleted += manager.filter(pk__in=to_delete[start : start + 500]).delete()[1].get(model._meta.label, 0)
        restored = 0
        if to_restore:
            batch_attr = model._meta.get_field(spec.batch_field).attname if spec.batch_field else None
            fields = spec.write_fields() + ([batch_attr] if batch_attr else [])
            restored = update_rows(model, to_restore, fields)
        if (deleted, restored) != (len(to_delete), len(to_restore)):  # locked, so only a bug or a foreign writer gets here
            raise RollbackConflict(
                _("Entries of this upload changed while it was being rolled back; nothing was changed. Please try again."), []
            )
        base.save_fields(batch, (UploadBatch.Status.APPLIED,), status=UploadBatch.Status.ROLLED_BACK, rolled_back_at=timezone.now())
        transaction.on_commit(lambda: signals.batch_rolled_back.send(sender=UploadBatch, batch=batch))
    return batch, True


def _rollback_plan(batch: UploadBatch, spec: UploadSpec, *, force: bool) -> tuple[list[Any], list[models.Model]]:
    """The records to delete and to restore (locked); :class:`RollbackConflict` for records changed since, unless ``force``."""
    model = spec.model
    batch_attr = model._meta.get_field(spec.batch_field).attname if spec.batch_field else None
    conflicts: list[int] = []
    to_delete: list[Any] = []
    to_restore: list[Any] = []
    written = batch.rows.filter(outcome__in=[Outcome.CREATED, Outcome.UPDATED])
    for chunk in base._chunks(written.only("id", "row_number", "data", "previous", "outcome", "target_pk")):
        records = model._default_manager.select_for_update().in_bulk([row.target_pk for row in chunk if row.target_pk])
        for row in chunk:
            record = records.get(model._meta.pk.to_python(row.target_pk)) if row.target_pk else None
            if record is None:
                continue
            if _changed_since(spec, record, row, batch, batch_attr):
                conflicts.append(row.row_number)
                if not force:
                    continue
            if row.outcome == Outcome.CREATED:
                to_delete.append(record.pk)
            else:
                for name, value in decode_values(model, row.previous).items():
                    setattr(record, name, value)
                to_restore.append(record)
    if conflicts and not force:
        shown = ", ".join(str(n) for n in conflicts[:20]) + ("…" if len(conflicts) > 20 else "")
        raise RollbackConflict(
            ngettext(
                "Row %(rows)s was changed after this upload; rolling back would overwrite that change.",
                "Rows %(rows)s were changed after this upload; rolling back would overwrite those changes.",
                len(conflicts),
            )
            % {"rows": shown},
            conflicts,
        )
    return to_delete, to_restore


def _changed_since(spec: UploadSpec, record: Any, row: UploadRow, batch: UploadBatch, batch_attr: str | None) -> bool:
    if batch_attr and str(getattr(record, batch_attr)) != str(batch.pk):
        return True
    written = decode_values(spec.model, row.data)
    return any(getattr(record, name) != value for name, value in written.items())


class _DryRun(Exception):
    """Raised inside a transaction to undo a rollback tried only to see whether it would conflict."""


def rollback_conflict(*, batch_id: Any) -> str:
    """Why rolling the batch back would overwrite later changes ("" when it would not), found by trying it and
    undoing the try: :func:`rollback_batch` is the one place that knows, and nothing of the try is kept (signals included)."""
    try:
        with transaction.atomic():
            rollback_batch(batch_id=batch_id)
            raise _DryRun
    except _DryRun:
        return ""
    except RollbackConflict as exc:
        return str(exc)
