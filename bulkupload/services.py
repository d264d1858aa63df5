"""Every write to uploads: stage, validate, fix, apply, roll back, purge.

Each public function is its own transaction and the only code that changes
:class:`UploadBatch` and :class:`UploadRow`. Work that grows with the file runs
in chunks of ``BULKUPLOAD["CHUNK_SIZE"]`` rows.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import logging
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from typing import IO, Any

from django.core.files import File
from django.db import transaction
from django.db.models import Count, F
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import conf, progress, signals
from .bulk import insert_records, insert_values, refresh_statistics, update_rows, update_values
from .exceptions import BatchNotReady, FileRejected, RollbackConflict
from .mapping import map_header
from .models import UploadBatch, UploadRow
from .reading import Limits, open_table
from .reading.cells import current_problems, record_problems
from .spec import StagedRow, UploadSpec, get_spec
from .validation import (
    DuplicateKeyRule,
    RowResult,
    RowValidator,
    SharedValues,
    changed_fields,
    decode_values,
    encode_values,
    find_existing,
    key_text,
    run_file_rules,
)

logger = logging.getLogger(__name__)

Status = UploadRow.Status
Outcome = UploadRow.Outcome


def create_batch(spec: UploadSpec, user: Any) -> UploadBatch:
    """A new, empty upload for ``user``, waiting for its file."""
    scope = spec.get_scope(user)
    return UploadBatch.objects.create(owner=user, spec=spec.slug, scope_key=spec.scope_key(scope))


def batch_scope(batch: UploadBatch) -> tuple[UploadSpec, Any]:
    spec = get_spec(batch.spec)
    return spec, spec.get_scope(batch.owner)


# --- staging ---------------------------------------------------------------------------


def stage_upload(
    batch: UploadBatch,
    upload: IO[bytes],
    *,
    name: str,
    limits: Limits | None = None,
    sheet: str | None = None,
    positions: dict[str, int] | None = None,
    plan: dict[str, Any] | None = None,
) -> UploadBatch:
    """Read ``upload`` into rows of ``batch`` and validate them.

    The file replaces any earlier one of the batch. A file that cannot be read
    raises :class:`FileRejected` and leaves the batch as it was. ``sheet`` picks a
    workbook's sheet; ``positions`` (column key → file column index) is the mapping
    the user confirmed in the columns step; ``plan`` (``mapping.FilePlan.as_json``) is kept with the batch.
    """
    if batch.is_final:
        raise BatchNotReady(_("This upload has already been applied."))
    spec = get_spec(batch.spec)
    size = check_size(upload, name=name)
    digest = _sha256(upload)
    with transaction.atomic():
        UploadBatch.objects.select_for_update().filter(pk=batch.pk).first()
        table = open_table(upload, name=name, limits=limits, sheet=sheet)
        mapping = map_header(spec, table.header, file_name=name, sheet=table.sheet, header_row=table.header_row, positions=positions)
        batch.rows.all().delete()
        validator = RowValidator(spec, spec.get_scope(batch.owner))
        total = 0
        # Each chunk is validated before it is inserted: one write per row, never an update.
        for chunk in itertools.batched(table.rows, conf.get("CHUNK_SIZE")):
            raws = [record_problems(mapping.row_values(cells), cells) for _number, cells in chunk]
            results = validator.validate_chunk(raws)
            staged = [
                (batch.pk, number, raw, *_result_values(spec, raw, result), *UNTOUCHED)
                for (number, _cells), raw, result in zip(chunk, raws, results, strict=True)
            ]
            insert_values(UploadRow, STAGED_FIELDS, staged)
            total += len(staged)
            progress.advance(len(staged))
        if total >= ANALYZE_FROM_ROWS:
            refresh_statistics(UploadRow)
        if not total:
            raise FileRejected(_("The file has a header but no data rows."), file=name, sheet=table.sheet)
        old_file = batch.source_file.name
        upload.seek(0)
        batch.source_file.save(name, File(upload), save=False)
        transaction.on_commit(lambda: _delete_file(old_file) if old_file and old_file != batch.source_file.name else None)
        batch.file_name = name[:255]
        batch.file_size = size or 0
        batch.sha256 = digest
        batch.sheet_name = table.sheet or ""
        batch.header_row = table.header_row
        batch.headers = mapping.headers
        batch.ignored_headers = mapping.ignored
        batch.needs_columns = positions is not None
        batch.encoding = table.encoding
        if plan is not None:
            batch.plan = plan
        batch.total_rows = total
        _finish_validation(batch, spec, validator.scope)
    return batch


def check_size(upload: IO[bytes], *, name: str) -> int | None:
    """The upload's size; :class:`FileRejected` when it is over ``MAX_FILE_SIZE``."""
    size = getattr(upload, "size", None)
    max_size = conf.get("MAX_FILE_SIZE")
    if size is not None and size > max_size:
        raise FileRejected(
            _("The file is %(size)s; at most %(limit)s are allowed.") % {"size": filesizeformat(size), "limit": filesizeformat(max_size)},
            file=name,
        )
    return size


def hold_upload(
    batch: UploadBatch, upload: IO[bytes], *, name: str, sheet: str | None = None, plan: dict[str, Any] | None = None
) -> UploadBatch:
    """Keep ``upload`` in ``batch`` unread: the user first chooses its sheet and columns (from ``plan``, when given)."""
    if batch.is_final:
        raise BatchNotReady(_("This upload has already been applied."))
    size = check_size(upload, name=name)
    digest = _sha256(upload)
    with transaction.atomic():
        UploadBatch.objects.select_for_update().filter(pk=batch.pk).first()
        batch.rows.all().delete()
        old_file = batch.source_file.name
        batch.source_file.save(name, File(upload), save=False)
        transaction.on_commit(lambda: _delete_file(old_file) if old_file and old_file != batch.source_file.name else None)
        batch.file_name, batch.file_size, batch.sha256 = name[:255], size or 0, digest
        batch.sheet_name, batch.headers, batch.ignored_headers = sheet or "", {}, []
        batch.plan, batch.encoding = plan or {}, (plan or {}).get("encoding", "")
        batch.total_rows = batch.new_count = batch.update_count = batch.unchanged_count = batch.invalid_count = 0
        batch.status, batch.needs_columns, batch.validated_at = UploadBatch.Status.DRAFT, True, None
        batch.save()
    return batch


def stage_held_upload(batch: UploadBatch, *, sheet: str | None, positions: dict[str, int]) -> UploadBatch:
    """Stage the file kept by :func:`hold_upload` with the sheet and columns the user chose."""
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as copy, batch.source_file.open("rb") as stored:
        shutil.copyfileobj(stored, copy)
        copy.size = copy.tell()
        return stage_upload(batch, copy, name=batch.file_name, sheet=sheet, positions=positions)


def _sha256(upload: IO[bytes]) -> str:
    upload.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: upload.read(1 << 20), b""):
        digest.update(block)
    upload.seek(0)
    return digest.hexdigest()


def _delete_file(name: str) -> None:
    from .models import private_storage

    try:
        private_storage().delete(name)
    except OSError:
        logger.warning("Could not delete upload file %s", name, exc_info=True)


# --- validation ------------------------------------------------------------------------


def validate_batch(batch: UploadBatch, *, row_ids: list[int] | None = None) -> UploadBatch:
    """Validate rows (all, or ``row_ids``), then the file rules over all rows; update counts."""
    spec, scope = batch_scope(batch)
    validator = RowValidator(spec, scope)
    with transaction.atomic():
        rows = batch.rows.all()
        if row_ids is not None:
            rows = rows.filter(pk__in=row_ids)
        for chunk in _chunks(rows, "values"):
            results = validator.validate_chunk([raw for _row_id, raw in chunk])
            found = [(row_id, *_result_values(spec, raw, result)) for (row_id, raw), result in zip(chunk, results, strict=True)]
            update_values(UploadRow, RESULT_FIELDS, found)
            progress.advance(len(chunk))
        _finish_validation(batch, spec, scope)
    return batch


RESULT_FIELDS = ["errors", "match", "status", "data", "natural_key", "target_pk", "changes"]
#: After writing this many rows in one go, PostgreSQL's statistics are refreshed.
ANALYZE_FROM_ROWS = 5000


#: A staged row: its place and cells, what validation made of it (:data:`RESULT_FIELDS`), then the columns applying fills.
STAGED_FIELDS = ["batch", "row_number", "values", *RESULT_FIELDS, "file_errors", "has_file_errors", "previous", "outcome"]
UNTOUCHED = ({}, False, None, Outcome.PENDING)


def _result_values(spec: UploadSpec, raw: dict[str, Any], result: RowResult) -> tuple:
    """The values of :data:`RESULT_FIELDS` for a row with cells ``raw``."""
    if problems := current_problems(raw):
        # What the reader found (an Excel error, a formula without result, a short row) outranks the form.
        return {**result.errors, **problems}, Status.INVALID, Status.INVALID, None, "", "", {}
    if result.values is None:
        return result.errors, Status.INVALID, Status.INVALID, None, "", "", {}
    target_pk = str(result.target.pk) if result.target is not None else ""
    natural_key = key_text(spec.key_of(result.values))
    return result.errors, result.match, result.match, encode_values(result.values), natural_key, target_pk, result.changes


def _finish_validation(batch: UploadBatch, spec: UploadSpec, scope: Any) -> None:
    _apply_file_rules(batch, spec, scope)
    _update_counts(batch)
    batch.status = UploadBatch.Status.READY
    batch.validated_at = timezone.now()
    batch.save()


def _apply_file_rules(batch: UploadBatch, spec: UploadSpec, scope: Any) -> None:
    rows = batch.rows.all()
    rows.filter(has_file_errors=True).update(file_errors={}, has_file_errors=False, status=F("match"))
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    valid = rows.exclude(match=Status.INVALID)
    duplicate_keys = list(valid.values("natural_key").annotate(n=Count("id")).filter(n__gt=1).values_list("natural_key", flat=True))
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

    for row_id, column, message in run_file_rules(spec, scope, staged_rows):
        found[row_id][column].append(message)
    flagged = [
        UploadRow(id=row_id, file_errors={k: list(v) for k, v in errors.items()}, has_file_errors=True, status=Status.INVALID)
        for row_id, errors in found.items()
    ]
    update_rows(UploadRow, flagged, ["file_errors", "has_file_errors", "status"])


def _update_counts(batch: UploadBatch) -> None:
    counts = dict(batch.rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    batch.new_count = counts.get(Status.NEW, 0)
    batch.update_count = counts.get(Status.UPDATE, 0)
    batch.unchanged_count = counts.get(Status.UNCHANGED, 0)
    batch.invalid_count = counts.get(Status.INVALID, 0)
    batch.total_rows = sum(counts.values())


def _chunks(queryset, *fields: str) -> Iterator[list]:
    """Keyset pagination by id: constant cost per chunk however far into the file.

    With ``fields``, chunks of ``(pk, *fields)`` tuples rather than instances.
    """
    size = conf.get("CHUNK_SIZE")
    if fields:
        queryset = queryset.values_list("pk", *fields)
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1][0] if fields else chunk[-1].pk


def save_fixes(batch: UploadBatch, edits: dict[int, dict[str, str]]) -> UploadBatch:
    """Replace cells of rows the user fixed in the preview, then revalidate."""
    if batch.is_final:
        raise BatchNotReady(_("This upload has already been applied."))
    with transaction.atomic():
        rows = list(batch.rows.filter(pk__in=list(edits)).only("id", "values"))
        for row in rows:
            row.values = {**row.values, **{k: str(v).strip() for k, v in edits[row.pk].items()}}
        UploadRow.objects.bulk_update(rows, ["values"])
        return validate_batch(batch, row_ids=[row.pk for row in rows])


# --- applying --------------------------------------------------------------------------


def apply_batch(batch_id: Any, *, overwrite: bool = True, skip_invalid: bool = False, queued: bool = False) -> tuple[UploadBatch, bool]:
    """Write the batch's rows to the target model in one transaction, exactly once.

    Returns the batch and whether this call applied it (False when it already
    was: a double click or a second tab). Keys are checked again inside the
    transaction, so a record created since the preview becomes an update.
    ``queued``: the batch was claimed for a task worker (status ``applying``).
    """
    with transaction.atomic():
        claimable = UploadBatch.Status.APPLYING if queued else UploadBatch.Status.READY
        claimed = UploadBatch.objects.filter(pk=batch_id, status=claimable).update(
            status=UploadBatch.Status.APPLIED,
            applied_at=timezone.now(),
            overwrite=overwrite,
            skip_invalid=skip_invalid,
        )
        batch = UploadBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise BatchNotReady(_("This upload no longer exists; please upload the file again."))
        if not claimed:
            return batch, False
        if batch.invalid_count and not skip_invalid:
            raise BatchNotReady(
                ngettext(
                    "%(count)d row is invalid: fix it or choose to skip it.",
                    "%(count)d rows are invalid: fix them or choose to skip them.",
                    batch.invalid_count,
                )
                % {"count": batch.invalid_count}
            )
        spec, scope = batch_scope(batch)
        counts = _write_rows(batch, spec, scope, overwrite=overwrite)
        skipped = batch.rows.filter(status=Status.INVALID).update(outcome=Outcome.SKIPPED)
        batch.created_count = counts[Outcome.CREATED]
        batch.updated_count = counts[Outcome.UPDATED]
        batch.skipped_count = skipped + counts[Outcome.KEPT]
        batch.save()
        source = batch.source_file.name
        transaction.on_commit(lambda: _delete_file(source) if source else None)
        transaction.on_commit(lambda: signals.batch_applied.send(sender=UploadBatch, batch=batch))
    return batch, True


def _write_rows(batch: UploadBatch, spec: UploadSpec, scope: Any, *, overwrite: bool) -> dict[str, int]:
    model = spec.model
    counts: dict[str, int] = defaultdict(int)
    write_fields = spec.write_fields()
    batch_attr = model._meta.get_field(spec.batch_field).attname if spec.batch_field else None
    extra = {batch_attr: batch.pk} if batch_attr else {}
    kept_fields = write_fields + ([batch_attr] if batch_attr else [])
    scope_values = spec.scope_values(scope)
    created_so_far, analyzed = 0, False
    for chunk in _chunks(batch.rows.exclude(status=Status.INVALID), "data"):
        values_of_rows = [decode_values(model, data) for _row_id, data in chunk]
        keys = [spec.key_of(values) for values in values_of_rows]
        existing = find_existing(spec, scope, keys, related=False)
        creates: list[tuple[int, dict[str, Any]]] = []  # (row id, the new record's attribute values)
        updates = []
        outcomes: list[tuple[int, str, str, Any]] = []  # (row id, outcome, target pk, previous values)
        for (row_id, _data), values, key in zip(chunk, values_of_rows, keys, strict=True):
            record = existing.get(key)
            previous = None
            if record is None:
                creates.append((row_id, {**scope_values, **values, **extra}))
                outcome = Outcome.CREATED
            elif not changed_fields(spec, record, values, write_fields):
                outcome = Outcome.UNCHANGED
            elif not overwrite:
                outcome = Outcome.KEPT
            else:
                outcome, previous = Outcome.UPDATED, encode_values({name: getattr(record, name) for name in kept_fields})
                for name in write_fields:
                    setattr(record, name, values[name])
                if batch_attr:
                    setattr(record, batch_attr, batch.pk)
                updates.append(record)
            counts[outcome] += 1
            if record is not None:
                outcomes.append((row_id, outcome, str(record.pk), previous))
        pks = insert_records(model, [values for _row_id, values in creates])
        created_so_far += len(creates)
        if created_so_far >= ANALYZE_FROM_ROWS and not analyzed:
            refresh_statistics(model)  # the table may have been empty when its statistics were last taken
            analyzed = True
        update_rows(model, updates, kept_fields)
        created = [(row_id, Outcome.CREATED, "" if pk is None else str(pk)) for (row_id, _values), pk in zip(creates, pks, strict=True)]
        update_values(UploadRow, ["outcome", "target_pk"], created)
        update_values(UploadRow, ["outcome", "target_pk", "previous"], outcomes)
        progress.advance(len(chunk))
    return counts


# --- rolling back ----------------------------------------------------------------------


def rollback_batch(batch_id: Any, *, force: bool = False) -> tuple[UploadBatch, bool]:
    """Undo an applied batch: delete what it created, restore what it updated.

    Refuses with :class:`RollbackConflict` naming the rows whose records were
    changed since (by hand or a later batch) unless ``force``. Rolling back a
    batch that is not applied does nothing and returns False.
    """
    with transaction.atomic():
        batch = UploadBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != UploadBatch.Status.APPLIED:
            return batch, False
        spec, _scope = batch_scope(batch)
        model = spec.model
        manager = model._default_manager
        batch_attr = model._meta.get_field(spec.batch_field).attname if spec.batch_field else None
        conflicts: list[int] = []
        to_delete: list[Any] = []
        to_restore: list[Any] = []
        written = batch.rows.filter(outcome__in=[Outcome.CREATED, Outcome.UPDATED])
        for chunk in _chunks(written.only("id", "row_number", "data", "previous", "outcome", "target_pk")):
            records = manager.select_for_update().in_bulk([row.target_pk for row in chunk if row.target_pk])
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
        for start in range(0, len(to_delete), 500):
            manager.filter(pk__in=to_delete[start : start + 500]).delete()
        if to_restore:
            fields = spec.write_fields() + ([batch_attr] if batch_attr else [])
            manager.bulk_update(to_restore, fields, batch_size=conf.get("CHUNK_SIZE"))
        batch.status = UploadBatch.Status.ROLLED_BACK
        batch.rolled_back_at = timezone.now()
        batch.save()
        transaction.on_commit(lambda: signals.batch_rolled_back.send(sender=UploadBatch, batch=batch))
    return batch, True


def _changed_since(spec: UploadSpec, record: Any, row: UploadRow, batch: UploadBatch, batch_attr: str | None) -> bool:
    if batch_attr and str(getattr(record, batch_attr)) != str(batch.pk):
        return True
    written = decode_values(spec.model, row.data)
    return any(getattr(record, name) != value for name, value in written.items())


# --- purging ---------------------------------------------------------------------------


def purge_abandoned(*, older_than: datetime.timedelta | None = None) -> list[UploadBatch]:
    """Delete uploads never applied and untouched for ``older_than``, with their files."""
    if older_than is None:
        older_than = datetime.timedelta(hours=conf.get("PURGE_AFTER_HOURS"))
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        # skip_locked: a batch being applied right now holds its row lock and is left alone.
        stale = list(
            UploadBatch.objects.select_for_update(skip_locked=True).filter(
                status__in=[UploadBatch.Status.DRAFT, UploadBatch.Status.READY], updated_at__lt=cutoff
            )
        )
        files = [b.source_file.name for b in stale if b.source_file]
        UploadBatch.objects.filter(pk__in=[b.pk for b in stale], status__in=[UploadBatch.Status.DRAFT, UploadBatch.Status.READY]).delete()
        transaction.on_commit(lambda: [_delete_file(name) for name in files])
    return stale


def discard_batch(batch_id: Any) -> None:
    """Delete an upload that was never applied, with its file (a command-line import that could not read its file)."""
    with transaction.atomic():
        batch = UploadBatch.objects.select_for_update().filter(pk=batch_id).exclude(status=UploadBatch.Status.APPLIED).first()
        if batch is None:
            return
        name = batch.source_file.name
        batch.delete()
        transaction.on_commit(lambda: _delete_file(name) if name else None)
