"""The JSON shapes of uploads, rows and receipts: what the API answers and what webhooks send.

Plain dictionaries built from the models, with no Django REST framework, so the
webhooks work without the ``api`` extra.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.utils.translation import gettext as _

from .. import progress
from ..models import UploadBatch, UploadRow

Status = UploadBatch.Status

#: Every value of an upload's ``status`` in the API.
UPLOAD_STATUSES = ("working", "needs_columns", "ready", "applied", "rolled_back", "failed")


def upload_status(batch: UploadBatch) -> str:
    """Where the upload stands, in the API's words."""
    if batch.is_working:
        return "working"
    if batch.status in (Status.APPLIED, Status.ROLLED_BACK, Status.READY):
        return str(batch.status)
    if batch.needs_columns and batch.source_file:
        return "needs_columns"
    # A draft without a file: reading it failed (``message`` says why), or none was ever given.
    return "failed"


def upload_data(batch: UploadBatch) -> dict[str, Any]:
    """An upload as ``GET uploads/<id>/`` shows it."""
    if batch.is_working:
        snapshot = progress.read(batch.pk)
        done, total = snapshot.done, snapshot.total
    else:
        done = total = batch.total_rows
    status = upload_status(batch)
    return {
        "id": str(batch.pk),
        "spec": batch.spec,
        "file_name": batch.file_name,
        "status": status,
        "counts": {
            "new": batch.new_count,
            "update": batch.update_count,
            "unchanged": batch.unchanged_count,
            "invalid": batch.invalid_count,
        },
        "progress": {"done": done, "total": total},
        "batch": str(batch.pk) if batch.status in (Status.APPLIED, Status.ROLLED_BACK) else None,
        "total_rows": batch.total_rows,
        "sheet": batch.sheet_name,
        "message": batch.task_error or (_("No file has been read into this upload.") if status == "failed" else ""),
        "created_at": batch.created_at,
        "updated_at": batch.updated_at,
    }


def receipt_data(batch: UploadBatch) -> dict[str, Any]:
    """A batch's receipt as ``GET batches/<id>/`` shows it: what applying it did."""
    found = dict(batch.rows.exclude(outcome="").values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n"))
    return {
        "id": str(batch.pk),
        "upload": str(batch.pk),
        "spec": batch.spec,
        "file_name": batch.file_name,
        "status": upload_status(batch),
        "overwrite": batch.overwrite,
        "skip_invalid": batch.skip_invalid,
        "counts": {
            "created": batch.created_count,
            "updated": batch.updated_count,
            "skipped": batch.skipped_count,
            "total": batch.total_rows,
        },
        "outcomes": {outcome: found.get(outcome, 0) for outcome in UploadRow.Outcome.values if outcome},
        "applied_at": batch.applied_at,
        "rolled_back_at": batch.rolled_back_at,
    }


def row_data(row: UploadRow) -> dict[str, Any]:
    """One row of the file as ``GET uploads/<id>/rows/`` shows it."""
    return {
        "number": row.row_number,
        "status": row.status,
        "values": row.values,
        "errors": row.all_errors(),
        "old": row.changes if row.status == UploadRow.Status.UPDATE else {},
        "version": row.version,
        "outcome": row.outcome,
    }
