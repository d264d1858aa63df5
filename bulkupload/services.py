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
from django.db.models import Count, F, Max, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import conf, progress, signals
from .bulk import insert_values, refresh_statistics, update_rows, update_values
from .exceptions import BatchNotReady, FileRejected, ScopeChanged, StaleRows
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
    decode_values,
    encode_values,
    key_text,
    run_file_rules,
)

logger = logging.getLogger(__name__)

Status = UploadRow.Status
Outcome = UploadRow.Outcome


def create_batch(spec: UploadSpec, user: Any) -> UploadBatch:
    """A new, empty upload for ``user``, waiting for its file (abandoned uploads are purged first when that is due)."""
    from . import limits

    limits.purge_if_due()
    scope = spec.get_scope(user)
    return UploadBatch.objects.create(owner=user, spec=spec.slug, scope_key=spec.scope_key(scope))


def batch_scope(batch: UploadBatch) -> tuple[UploadSpec, Any]:
    """The batch's spec and the scope it was made in; :class:`ScopeChanged` when its owner no longer belongs there.

    The scope is stored as ``scope_key`` when the upload starts: reading, applying and
    rolling back use that scope, never one the owner moved to since.
    """
    spec = get_spec(batch.spec)
    scope = spec.get_scope(batch.owner)
    if scope is None or spec.scope_key(scope) != batch.scope_key:
        raise ScopeChanged(
            _("This upload was made for an organisation its owner no longer belongs to, so nothing was written. Start a new upload.")
        )
    return spec, scope


#: Where a batch may be when each kind of write starts (re-checked under the batch's row lock).
OPEN = (UploadBatch.Status.DRAFT, UploadBatch.Status.READY)
STAGING = (UploadBatch.Status.STAGING,)
READY = (UploadBatch.Status.READY,)


def lock_batch(batch_id: Any, allowed: tuple[str, ...]) -> UploadBatch:
    """The batch, its row locked until the transaction ends; :class:`BatchNotReady` unless its status is in ``allowed``."""
    batch = UploadBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise BatchNotReady(_("This upload no longer exists; please upload the file again."))
    if batch.status not in allowed:
        raise BatchNotReady(not_ready_message(batch))
    return batch


def not_ready_message(batch: UploadBatch) -> str:
    """Why nothing can be changed in ``batch`` as it stands."""
    Batch = UploadBatch.Status
    if batch.status == Batch.APPLIED:
        return _("This upload has already been applied.")
    if batch.status == Batch.ROLLED_BACK:
        return _("This upload was rolled back; start a new upload to import the file again.")
    if batch.is_working:
        return _("This upload is being read or applied right now; wait until that has finished.")
    if batch.status == Batch.DRAFT:
        return _("Upload a file first.")
    return _("This upload is not waiting for a file.")


def save_fields(batch: UploadBatch, allowed: tuple[str, ...], **fields: Any) -> None:
    """Write only ``fields`` of the batch, and only while its status is in ``allowed``; set them on ``batch`` too.

    Never ``batch.save()``: a stale object would write back a status or counts someone else changed.
    """
    fields["updated_at"] = timezone.now()
    if not UploadBatch.objects.filter(pk=batch.pk, status__in=allowed).update(**fields):
        current = UploadBatch.objects.filter(pk=batch.pk).first()
        raise BatchNotReady(not_ready_message(current) if current else _("This upload no longer exists; please upload the file again."))
    for name, value in fields.items():
        setattr(batch, name, value)


# --- staging ---------------------------------------------------------------------------


def stage_upload(
    batch: UploadBatch,
    upload: IO[bytes],
    *,
    name: str,
    limits: Limits | None = None,
    sheet: str | None = None,
    positions: dict[str, int] | None = None,
    queued: bool = False,
    plan: dict[str, Any] | None = None,
) -> UploadBatch:
    """Read ``upload`` into rows of ``batch`` and validate them.

    The file replaces any earlier one of the batch. A file that cannot be read
    raises :class:`FileRejected` and leaves the batch as it was. ``sheet`` picks a
    workbook's sheet; ``positions`` (column key → file column index) is the mapping
    the user confirmed in the columns step. ``queued``: a task worker stages a batch
    claimed for it (status ``staging``). ``plan`` (``mapping.FilePlan.as_json``) is kept with the batch.
    """
    if batch.is_final:
        raise BatchNotReady(not_ready_message(batch))
    allowed = STAGING if queued else OPEN
    spec = get_spec(batch.spec)
    size = check_size(upload, name=name)
    digest = _sha256(upload)
    with transaction.atomic():
        locked = lock_batch(batch.pk, allowed)
        check_stored_bytes(locked, size, name=name)
        spec, scope = batch_scope(locked)
        table = open_table(upload, name=name, limits=limits, sheet=sheet)
        mapping = map_header(spec, table.header, file_name=name, sheet=table.sheet, header_row=table.header_row, positions=positions)
        # Rows read from this file start above every version the upload's rows had: a client holding a version of
        # the old file's row gets 409, not a write into another file's row of the same number.
        last = batch.rows.aggregate(last=Max("version"))["last"]
        version = max(0 if last is None else last + 1, locked.next_row_version)
        batch.rows.all().delete()
        total = _stage_rows(batch, spec, scope, table.rows, mapping, version=version)
        if not total:
            raise FileRejected(_("The file has a header but no data rows."), file=name, sheet=table.sheet)
        old_file = locked.source_file.name
        upload.seek(0)
        batch.source_file.save(name, File(upload), save=False)
        new_file = batch.source_file.name
        transaction.on_commit(lambda: _delete_file(old_file) if old_file and old_file != new_file else None)
        file_fields = {
            "source_file": new_file,
            "file_name": name[:255],
            "file_size": size or 0,
            "sha256": digest,
            "sheet_name": table.sheet or "",
            "header_row": table.header_row,
            "headers": mapping.headers,
            "ignored_headers": mapping.ignored,
            "needs_columns": positions is not None,
            "encoding": table.encoding,
            **({"plan": plan} if plan is not None else {}),
        }
        _finish_validation(batch, spec, scope, allowed=allowed, **file_fields)
        transaction.on_commit(lambda: signals.upload_ready.send(sender=UploadBatch, batch=batch))
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


def _stage_rows(batch: UploadBatch, spec: UploadSpec, scope: Any, rows: Iterator, mapping: Any, *, version: int) -> int:
    """Validate and insert the file's rows, chunk by chunk; how many there were."""
    validator = RowValidator(spec, scope, date_orders=batch.date_orders)
    total = 0
    # Each chunk is validated before it is inserted: one write per row, never an update.
    for chunk in itertools.batched(rows, conf.get("CHUNK_SIZE")):
        raws = [record_problems(mapping.row_values(cells), cells) for _number, cells in chunk]
        results = validator.validate_chunk(raws)
        staged = [
            (batch.pk, number, raw, *_result_values(spec, raw, result), *UNTOUCHED, version)
            for (number, _cells), raw, result in zip(chunk, raws, results, strict=True)
        ]
        insert_values(UploadRow, STAGED_FIELDS, staged)
        total += len(staged)
        progress.advance(len(staged))
    if total >= ANALYZE_FROM_ROWS:
        refresh_statistics(UploadRow)
    return total


def hold_upload(
    batch: UploadBatch, upload: IO[bytes], *, name: str, sheet: str | None = None, plan: dict[str, Any] | None = None
) -> UploadBatch:
    """Keep ``upload`` in ``batch`` unread: the user first chooses its sheet and columns (from ``plan``, when given)."""
    if batch.is_final:
        raise BatchNotReady(not_ready_message(batch))
    size = check_size(upload, name=name)
    digest = _sha256(upload)
    with transaction.atomic():
        locked = lock_batch(batch.pk, OPEN)
        check_stored_bytes(locked, size, name=name)
        batch_scope(locked)
        last = batch.rows.aggregate(last=Max("version"))["last"]  # the rows go: their versions stay used up
        batch.rows.all().delete()
        old_file = locked.source_file.name
        batch.source_file.save(name, File(upload), save=False)
        new_file = batch.source_file.name
        transaction.on_commit(lambda: _delete_file(old_file) if old_file and old_file != new_file else None)
        save_fields(
            batch,
            OPEN,
            source_file=new_file,
            file_name=name[:255],
            file_size=size or 0,
            sha256=digest,
            sheet_name=sheet or "",
            headers={},
            ignored_headers=[],
            plan=plan or {},
            encoding=(plan or {}).get("encoding", ""),
            **dict.fromkeys(["total_rows", "new_count", "update_count", "unchanged_count", "invalid_count"], 0),
            status=UploadBatch.Status.DRAFT,
            needs_columns=True,
            validated_at=None,
            next_row_version=max(0 if last is None else last + 1, locked.next_row_version),
        )
    return batch


def stage_held_upload(batch: UploadBatch, *, sheet: str | None, positions: dict[str, int], queued: bool = False) -> UploadBatch:
    """Stage the file kept by :func:`hold_upload` with the sheet and columns the user chose."""
    if not batch.source_file:
        raise BatchNotReady(_("Upload a file first."))
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as copy, batch.source_file.open("rb") as stored:
        shutil.copyfileobj(stored, copy)
        copy.size = copy.tell()
        return stage_upload(batch, copy, name=batch.file_name, sheet=sheet, positions=positions, queued=queued)


def check_stored_bytes(batch: UploadBatch, size: int | None, *, name: str) -> None:
    """:class:`FileRejected` when keeping ``size`` more bytes would take the owner's open uploads over their limit.

    The batch's own earlier file does not count: the new one replaces it.
    """
    limit = conf.get("MAX_STORED_BYTES_PER_USER")
    if not limit or not size:
        return
    open_statuses = [s for s in UploadBatch.Status.values if s not in (UploadBatch.Status.APPLIED, UploadBatch.Status.ROLLED_BACK)]
    others = (
        UploadBatch.objects.filter(owner_id=batch.owner_id, status__in=open_statuses)
        .exclude(pk=batch.pk)
        .exclude(source_file="")
        .aggregate(total=Sum("file_size"))["total"]
        or 0
    )
    if others + size > limit:
        raise FileRejected(
            _(
                "Your unfinished uploads already keep %(stored)s of files; with this one they would exceed the %(limit)s "
                "allowed. Confirm an earlier upload first; unfinished ones are removed after %(hours)d hours."
            )
            % {"stored": filesizeformat(others), "limit": filesizeformat(limit), "hours": conf.get("PURGE_AFTER_HOURS")},
            file=name,
        )


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
    """Validate rows (all, or ``row_ids``) of a ready batch, then the file rules over all rows; update counts."""
    with transaction.atomic():
        lock_batch(batch.pk, READY)
        _revalidate(batch, row_ids)
    return batch


def _revalidate(batch: UploadBatch, row_ids: list[int] | None) -> None:
    """The work of :func:`validate_batch`, inside the caller's transaction and under its lock of the batch."""
    spec, scope = batch_scope(batch)
    validator = RowValidator(spec, scope, date_orders=batch.date_orders)
    rows = batch.rows.exclude(status=Status.EXCLUDED)  # a row the user excluded stays excluded
    if row_ids is not None:
        rows = rows.filter(pk__in=row_ids)
    for chunk in _chunks(rows, "values"):
        results = validator.validate_chunk([raw for _row_id, raw in chunk])
        found = [(row_id, *_result_values(spec, raw, result)) for (row_id, raw), result in zip(chunk, results, strict=True)]
        update_values(UploadRow, RESULT_FIELDS, found)
        progress.advance(len(chunk))
    _finish_validation(batch, spec, scope, allowed=READY)


RESULT_FIELDS = ["errors", "match", "status", "data", "natural_key", "target_pk", "changes", "seen"]
#: After writing this many rows in one go, PostgreSQL's statistics are refreshed.
ANALYZE_FROM_ROWS = 5000


#: A staged row: its place and cells, what validation made of it (:data:`RESULT_FIELDS`), then the columns applying fills.
STAGED_FIELDS = ["batch", "row_number", "values", *RESULT_FIELDS, "file_errors", "has_file_errors", "previous", "outcome", "version"]
UNTOUCHED = ({}, False, None, Outcome.PENDING)


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


def _finish_validation(batch: UploadBatch, spec: UploadSpec, scope: Any, *, allowed: tuple[str, ...], **fields: Any) -> None:
    """File rules and counts, then the batch is ready: only the fields validation owns are written, and only from ``allowed``."""
    _apply_file_rules(batch, spec, scope)
    save_fields(batch, allowed, **fields, **_counts(batch), status=UploadBatch.Status.READY, validated_at=timezone.now())


def _apply_file_rules(batch: UploadBatch, spec: UploadSpec, scope: Any) -> None:
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

    for row_id, column, message in run_file_rules(spec, scope, staged_rows):
        found[row_id][column].append(message)
    flagged = [
        UploadRow(id=row_id, file_errors={k: list(v) for k, v in errors.items()}, has_file_errors=True, status=Status.INVALID)
        for row_id, errors in found.items()
    ]
    update_rows(UploadRow, flagged, ["file_errors", "has_file_errors", "status"])


def _counts(batch: UploadBatch) -> dict[str, int]:
    counts = dict(batch.rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "new_count": counts.get(Status.NEW, 0),
        "update_count": counts.get(Status.UPDATE, 0),
        "unchanged_count": counts.get(Status.UNCHANGED, 0),
        "invalid_count": counts.get(Status.INVALID, 0),
        "total_rows": sum(counts.values()),
    }


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


def save_fixes(batch: UploadBatch, edits: dict[int, dict[str, str]], *, versions: dict[int, int] | None = None) -> UploadBatch:
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
            raise BatchNotReady(_("Upload a file first."))
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


# Applying and rolling back live in their own module; they are services as much as these.
from .applying import apply_batch, rollback_batch  # noqa: E402, F401
