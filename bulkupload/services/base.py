"""What every service shares: the batch's scope, its row lock, guarded field writes, chunked reads, file removal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import conf
from ..exceptions import BatchGone, BatchInWrongStatus, BatchNotReady, NoFileYet, ScopeChanged
from ..models import COUNT_FIELDS, UploadBatch, UploadRow
from ..spec import UploadSpec, get_spec

logger = logging.getLogger(__name__)

Status = UploadRow.Status
Outcome = UploadRow.Outcome


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
#: After writing this many rows in one go, PostgreSQL's statistics are refreshed.
ANALYZE_FROM_ROWS = 5000


def lock_batch(batch_id: Any, allowed: tuple[str, ...]) -> UploadBatch:
    """The batch, its row locked until the transaction ends; :class:`BatchNotReady` unless its status is in ``allowed``."""
    batch = UploadBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise BatchGone(_("This upload no longer exists; please upload the file again."))
    if batch.status not in allowed:
        raise not_ready(batch)
    return batch


def not_ready(batch: UploadBatch) -> BatchNotReady:
    """The refusal of a change to ``batch`` as it stands: :class:`NoFileYet` for a draft, else :class:`BatchInWrongStatus`."""
    kind = NoFileYet if batch.status == UploadBatch.Status.DRAFT else BatchInWrongStatus
    return kind(not_ready_message(batch))


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
        raise not_ready(current) if current else BatchGone(_("This upload no longer exists; please upload the file again."))
    for name, value in fields.items():
        setattr(batch, name, value)


def _delete_file(name: str) -> None:
    from ..models import private_storage

    try:
        private_storage().delete(name)
    except OSError:
        logger.warning("Could not delete upload file %s", name, exc_info=True)


def _counts(batch: UploadBatch) -> dict[str, int]:
    counts = dict(batch.rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {**{field: counts.get(status, 0) for status, field in COUNT_FIELDS.items()}, "total_rows": sum(counts.values())}


def _chunks(queryset, *fields: str) -> Iterator[list]:
    """An upload's rows in file order, a chunk at a time: keyset pagination by row number, constant cost per chunk
    however far into the file (one range of the batch's unique ``(batch, row_number)`` index; no index of its own).

    With ``fields``, chunks of ``(pk, *fields)`` tuples rather than instances.
    """
    size = conf.get("CHUNK_SIZE")
    if fields:
        queryset = queryset.values_list("pk", *fields, "row_number")
    last = -1
    while True:
        chunk = list(queryset.filter(row_number__gt=last).order_by("row_number")[:size])
        if not chunk:
            return
        last = chunk[-1][-1] if fields else chunk[-1].row_number
        yield [row[:-1] for row in chunk] if fields else chunk
