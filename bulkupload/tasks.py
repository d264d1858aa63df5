"""Long work as tasks of Django's tasks framework (:mod:`django.tasks`).

Which backend runs them is the host's ``TASKS`` setting: the default
``ImmediateBackend`` runs them at once, in the request; a real one (for example
``django_tasks_db.DatabaseBackend`` with ``manage.py db_worker``) runs them on a
worker. Arguments are plain JSON so any backend can store them.

Each task calls the services that do the work and records a failure on the batch;
:mod:`bulkupload.background` decides whether to queue and enqueues these tasks.
This module never imports it (the import runs one way).
"""

from __future__ import annotations

import datetime
import logging
import time
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import conf, progress, services, signals
from .compat import task
from .exceptions import BatchNotReady, ChangedSincePreview, FileRejected
from .models import UploadBatch
from .reading.estimate import estimate_rows

logger = logging.getLogger(__name__)
Status = UploadBatch.Status


@task
def stage_batch(batch_id: str, sheet: str | None = None, positions: dict[str, int] | None = None) -> str:
    """Read and check the file held by the batch."""
    return run_staging(batch_id, sheet=sheet, positions=positions)


@task
def apply_batch(batch_id: str) -> str:
    """Write a confirmed batch to the target model."""
    return run_apply(batch_id)


@task
def deliver_webhook(url: str, batch_id: str, event: str, event_id: str, body: str, attempt: int = 1) -> str:
    """POST one signed webhook event to ``url``; a failed attempt schedules the next with a longer wait."""
    from . import webhooks

    return webhooks.deliver(url=url, batch_id=batch_id, event=event, event_id=event_id, body=body, attempt=attempt)


@task
def purge_abandoned() -> int:
    """Remove abandoned uploads and their files, and release stalled ones: for a host that schedules tasks periodically."""
    release_stalled()
    return len(services.purge_abandoned())


# --- the tasks' work -------------------------------------------------------------------


def run_staging(batch_id: Any, *, sheet: str | None, positions: dict[str, int] | None) -> str:
    """The staging task's work: read and check the stored file; on failure say why and let the user upload again."""
    batch = UploadBatch.objects.filter(pk=batch_id, status=Status.STAGING).first()
    if batch is None:
        return "gone"  # purged or handled meanwhile
    try:
        with progress.tracking(progress.file_listener(batch.pk)):
            with batch.source_file.open("rb") as stored:
                # The header row is one of the lines; the count is a guide for the bar.
                progress.start("reading", max(estimate_rows(stored, name=batch.file_name, sheet=sheet) - 1, 1))
            services.stage_held_upload(batch, sheet=sheet, positions=positions, queued=True)
    except (FileRejected, BatchNotReady) as exc:
        _fail(batch_id, str(exc), status=Status.DRAFT, drop_file=True)
        return "rejected"
    except Exception:
        logger.exception("Reading upload %s failed", batch_id)
        _fail(batch_id, _("Reading the file failed unexpectedly. Please upload it again."), status=Status.DRAFT, drop_file=True)
        raise
    finally:
        progress.clear(batch_id)
    return "staged"


def run_apply(batch_id: Any) -> str:
    """The apply task's work; on failure nothing is written and the batch is ready to confirm again."""
    batch = UploadBatch.objects.filter(pk=batch_id, status=Status.APPLYING).first()
    if batch is None:
        return "gone"
    try:
        with progress.tracking(progress.file_listener(batch_id)):
            progress.start("applying", batch.valid_count)
            services.apply_batch(
                batch_id, overwrite=batch.overwrite, skip_invalid=batch.skip_invalid, queued=True, on_changed=batch.on_changed
            )
    except ChangedSincePreview as exc:
        # Nothing was written; the confirm page now offers to overwrite or keep them (the request never reads them all).
        _fail(batch_id, str(exc), status=Status.READY, changed_count=exc.count)
        return "refused"
    except BatchNotReady as exc:
        _fail(batch_id, str(exc), status=Status.READY)
        return "refused"
    except Exception:
        # One transaction: whatever broke (the database, a bug), nothing was written.
        logger.exception("Applying upload %s failed", batch_id)
        _fail(batch_id, _("Nothing was saved: the import failed part-way and was rolled back. Please try again."), status=Status.READY)
        raise
    finally:
        progress.clear(batch_id)
    return "applied"


def _fail(batch_id: Any, message: str, *, status: str, drop_file: bool = False, changed_count: int = 0) -> None:
    with transaction.atomic():
        batch = UploadBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or not batch.is_working:
            return  # released or handled meanwhile: the task no longer owns the batch
        old_file = batch.source_file.name if drop_file else ""
        batch.status, batch.task_error, batch.changed_count = status, message, changed_count
        if old_file:
            batch.source_file = ""
        batch.save(update_fields=["status", "task_error", "changed_count", "source_file", "updated_at"])
        if old_file:
            transaction.on_commit(lambda: services._delete_file(old_file))
        phase = "reading" if status == Status.DRAFT else "applying"
        transaction.on_commit(lambda: signals.upload_failed.send(sender=UploadBatch, batch=batch, message=message, phase=phase))


def release_stalled(*, older_than: datetime.timedelta | None = None) -> list[UploadBatch]:
    """Batches whose task stopped without finishing (a worker killed mid-task), made retryable again.

    A batch still ``staging`` or ``applying`` long after its task began never
    committed its work (that happens in the same transaction as the status change),
    so it goes back to where the user can upload or confirm again, with a message.
    """
    if older_than is None:
        older_than = datetime.timedelta(hours=conf.get("PURGE_AFTER_HOURS"))
    return _release(UploadBatch.objects.filter(updated_at__lt=timezone.now() - older_than))


def release_if_stalled(batch: UploadBatch) -> bool:
    """Release ``batch`` (as :func:`release_stalled`) when its task stopped reporting progress: its worker died.

    The heartbeat is the batch's progress file, written at every chunk. A task
    that has said nothing for ``TASK_STALLED_AFTER_SECONDS`` while reading or
    applying is taken as stopped; one still waiting for a worker is not. A task
    that is alive holds the batch's row in its transaction, so the release skips
    it however long its silence (PostgreSQL); on SQLite its lock makes the
    release give up. Returns whether the batch was released.
    """
    if not batch.is_working or progress.read(batch.pk).phase == "queued":
        return False
    reported = progress.last_report(batch.pk)
    if reported is None or time.time() - reported < conf.get("TASK_STALLED_AFTER_SECONDS"):
        return False
    try:
        released = _release(UploadBatch.objects.filter(pk=batch.pk))
    except DatabaseError:  # SQLite: a live task holds the database's write lock
        return False
    if released:
        progress.clear(batch.pk)
        batch.refresh_from_db()
    return bool(released)


def _release(batches: QuerySet[UploadBatch]) -> list[UploadBatch]:
    """Put working ``batches`` back where the user can upload or confirm again, with a message (and ``upload_failed``,
    so webhooks say so); skip those a live task holds."""
    message = _("The background work stopped without finishing. Nothing was saved; please try again.")
    released = []
    with transaction.atomic():
        stalled = batches.select_for_update(skip_locked=True).filter(status__in=[Status.STAGING, Status.APPLYING])
        for batch in stalled:
            batch.status = Status.DRAFT if batch.status == Status.STAGING else Status.READY
            batch.task_error = message
            batch.save(update_fields=["status", "task_error", "updated_at"])
            released.append(batch)
            phase = "reading" if batch.status == Status.DRAFT else "applying"
            transaction.on_commit(partial(signals.upload_failed.send, sender=UploadBatch, batch=batch, message=message, phase=phase))
    return released
