"""Staging: a file read into the upload's rows and checked, or held unread until its columns are chosen."""

from __future__ import annotations

import hashlib
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from django.core.files import File
from django.db import transaction
from django.db.models import Max, Sum
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from .. import conf, progress, signals
from ..bulk import insert_values, refresh_statistics, returns_ids
from ..exceptions import FileRejected, NoFileYet
from ..mapping import map_header
from ..models import COUNT_FIELDS, UploadBatch, UploadRow
from ..reading import Book, Limits, check_file_size, open_table
from ..reading.cells import record_problems
from ..spec import UploadSpec, get_spec
from ..validation import FedRules, RowValidator
from .base import ANALYZE_FROM_ROWS, OPEN, STAGING, Outcome, Status, _delete_file, batch_scope, lock_batch, not_ready, save_fields
from .validating import RESULT_FIELDS, _finish_validation, _result_values
from .values import prepare_values

#: A staged row: its place and cells, what validation made of it (:data:`RESULT_FIELDS`), then the columns applying fills.
STAGED_FIELDS = ["batch", "row_number", "values", *RESULT_FIELDS, "file_errors", "has_file_errors", "previous", "outcome", "version"]
UNTOUCHED = ({}, False, None, Outcome.PENDING)
#: The columns of staged rows that queries filter and sort by: the planner's statistics cover these.
QUERIED_FIELDS = ("batch", "row_number", "status", "match", "natural_key", "has_file_errors", "outcome")
MATCH = STAGED_FIELDS.index("match")


def stage_upload(
    *,
    batch: UploadBatch,
    upload: IO[bytes],
    name: str,
    book: Book | None = None,
    limits: Limits | None = None,
    sheet: str | None = None,
    positions: dict[str, int] | None = None,
    queued: bool = False,
    plan: dict[str, Any] | None = None,
) -> UploadBatch:
    """Read ``upload`` into rows of ``batch`` and validate them.

    The file replaces any earlier one of the batch. A file that cannot be read raises :class:`FileRejected` and
    leaves the batch as it was. ``sheet`` picks a workbook's sheet; ``positions`` (column key → file column index)
    is the mapping the user confirmed in the columns step. ``queued``: a task worker stages a batch claimed for it
    (status ``staging``). ``plan`` (``mapping.FilePlan.as_json``) is kept with the batch. ``book``: ``upload`` as
    it was opened and checked to plan it (``reading.open_book``): the rows are read from it; the caller closes it.
    """
    if batch.is_final:
        raise not_ready(batch)
    allowed = STAGING if queued else OPEN
    spec = get_spec(batch.spec)
    size = check_size(upload, name=name)
    digest = _sha256(upload)
    with transaction.atomic():
        locked = lock_batch(batch.pk, allowed)
        check_stored_bytes(locked, size, name=name)
        spec, scope = batch_scope(locked)
        table = book.table(sheet) if book is not None else open_table(upload, name=name, limits=limits, sheet=sheet)
        mapping = map_header(spec, table.header, file_name=name, sheet=table.sheet, header_row=table.header_row, positions=positions)
        version = _next_version(batch, locked)
        batch.rows.all().delete()
        total, fed = _stage_rows(batch, spec, scope, table.rows, mapping, version=version)
        if not total:
            raise FileRejected(_("The file has a header but no data rows."), file=name, sheet=table.sheet)
        upload.seek(0)
        file_fields = {
            **_replace_file(batch, locked, upload, name=name, size=size, digest=digest),
            "sheet_name": table.sheet or "",
            "header_row": table.header_row,
            "headers": mapping.headers,
            "ignored_headers": mapping.ignored,
            "needs_columns": positions is not None,
            "encoding": table.encoding,
            **({"plan": plan} if plan is not None else {}),
        }
        _finish_staging(batch, locked, spec, scope, allowed=allowed, fed=fed, **file_fields)
    return batch


def _finish_staging(
    batch: UploadBatch, locked: UploadBatch, spec: UploadSpec, scope: Any, *, allowed: tuple, fed: FedRules | None, **fields: Any
) -> None:
    """Validation's end (file rules, counts, ``ready``), then the values step decided for the rows just staged (the
    owner's remembered mappings applied), so a page showing the upload only reads; listeners hear of it once committed."""
    _finish_validation(batch, spec, scope, allowed=allowed, fed=fed, **fields)
    batch.value_check = locked.value_check  # as stored: the caller may have forgotten the last file's decisions
    prepare_values(batch=batch, user=batch.owner)
    transaction.on_commit(lambda: signals.upload_ready.send(sender=UploadBatch, batch=batch))


def _next_version(batch: UploadBatch, locked: UploadBatch) -> int:
    """The version rows read from a new file start at.

    Above every version the upload's rows had (and those of rows a held file replaced): a client holding a version
    of the old file's row gets 409, not a write into another file's row of the same number.
    """
    last = batch.rows.aggregate(last=Max("version"))["last"]
    return max(0 if last is None else last + 1, locked.next_row_version)


def _replace_file(batch: UploadBatch, locked: UploadBatch, upload: IO[bytes], *, name: str, size: int | None, digest: str) -> dict:
    """Keep ``upload`` as the batch's file (the earlier one deleted once committed); the batch fields that describe it."""
    old_file = locked.source_file.name
    batch.source_file.save(name, File(upload), save=False)
    new_file = batch.source_file.name
    transaction.on_commit(lambda: _delete_file(old_file) if old_file and old_file != new_file else None)
    return {"source_file": new_file, "file_name": name[:255], "file_size": size or 0, "sha256": digest}


def check_size(upload: IO[bytes], *, name: str) -> int | None:
    """The upload's size; :class:`FileRejected` when it is over ``MAX_FILE_SIZE`` (the reader's check and message)."""
    check_file_size(upload, name=name, limits=Limits())
    return getattr(upload, "size", None)


def _stage_rows(batch: UploadBatch, spec: UploadSpec, scope: Any, rows: Iterator, mapping: Any, *, version: int) -> tuple:
    """Validate and insert the file's rows, chunk by chunk; how many there were, and the file rules' runs (None where
    the database does not hand back ids) that were given each valid row once it had its id: they need not read them back."""
    validator = RowValidator(spec, scope, date_orders=batch.date_orders)
    fed = FedRules(spec, scope) if returns_ids(UploadRow) else None
    total = 0
    # Each chunk is validated before it is inserted: one write per row, never an update.
    for chunk in itertools.batched(rows, conf.get("CHUNK_SIZE")):
        raws = [record_problems(mapping.row_values(cells), cells) for _number, cells in chunk]
        results = validator.validate_chunk(raws)
        staged = [
            (batch.pk, number, raw, *_result_values(spec, raw, result), *UNTOUCHED, version)
            for (number, _cells), raw, result in zip(chunk, raws, results, strict=True)
        ]
        ids = insert_values(UploadRow, STAGED_FIELDS, staged, returning=fed is not None)
        if fed is not None:
            for row_id, row, result in zip(ids, staged, results, strict=True):
                if row[MATCH] != Status.INVALID:
                    fed.add(row_id, row[1], result.values, row[2])
        total += len(staged)
        progress.advance(len(staged))
    if total >= ANALYZE_FROM_ROWS:
        refresh_statistics(UploadRow, QUERIED_FIELDS)
    return total, fed


def hold_upload(
    *, batch: UploadBatch, upload: IO[bytes], name: str, sheet: str | None = None, plan: dict[str, Any] | None = None
) -> UploadBatch:
    """Keep ``upload`` in ``batch`` unread: the user first chooses its sheet and columns (from ``plan``, when given)."""
    if batch.is_final:
        raise not_ready(batch)
    size = check_size(upload, name=name)
    digest = _sha256(upload)
    with transaction.atomic():
        locked = lock_batch(batch.pk, OPEN)
        check_stored_bytes(locked, size, name=name)
        batch_scope(locked)
        next_row_version = _next_version(batch, locked)  # the rows go: their versions stay used up
        batch.rows.all().delete()
        save_fields(
            batch,
            OPEN,
            **_replace_file(batch, locked, upload, name=name, size=size, digest=digest),
            sheet_name=sheet or "",
            headers={},
            ignored_headers=[],
            plan=plan or {},
            encoding=(plan or {}).get("encoding", ""),
            **dict.fromkeys(["total_rows", *COUNT_FIELDS.values()], 0),
            status=UploadBatch.Status.DRAFT,
            needs_columns=True,
            validated_at=None,
            next_row_version=next_row_version,
        )
    return batch


def stage_held_upload(*, batch: UploadBatch, sheet: str | None, positions: dict[str, int], queued: bool = False) -> UploadBatch:
    """Stage the file kept by :func:`hold_upload` with the sheet and columns the user chose."""
    if not batch.source_file:
        raise NoFileYet(_("Upload a file first."))
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as copy, batch.source_file.open("rb") as stored:
        shutil.copyfileobj(stored, copy)
        copy.size = copy.tell()
        return stage_upload(batch=batch, upload=copy, name=batch.file_name, sheet=sheet, positions=positions, queued=queued)


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
