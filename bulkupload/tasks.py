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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any, NamedTuple

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from . import progress, services
from .compat import task
from .exceptions import BatchNotReady, ChangedSincePreview, FileRejected
from .models import UploadBatch
from .reading import Book
from .reading.estimate import estimate_rows

logger = logging.getLogger(__name__)
Status = UploadBatch.Status


@task
def stage_queued_batch(batch_id: str, sheet: str | None = None, positions: dict[str, int] | None = None, language: str = "") -> str:
    """Read and check the file held by the batch; its messages in ``language``, the one of the request that queued it."""
    with in_language(language):
        return run_staging(batch_id, sheet=sheet, positions=positions)


@task
def apply_queued_batch(batch_id: str, language: str = "") -> str:
    """Write a confirmed batch to the target model; its messages in ``language``, the one of the request that queued it."""
    with in_language(language):
        return run_apply(batch_id)


@task
def deliver_webhook(url: str, batch_id: str, event: str, event_id: str, body: str, attempt: int = 1) -> str:
    """POST one signed webhook event to ``url``; a failed attempt schedules the next with a longer wait."""
    from . import webhooks

    return webhooks.deliver(url=url, batch_id=batch_id, event=event, event_id=event_id, body=body, attempt=attempt)


@task
def purge_abandoned() -> int:
    """Remove abandoned uploads and their files, and release stalled ones: for a host that schedules tasks periodically."""
    services.release_stalled()
    return len(services.purge_abandoned())


# --- the tasks' work -------------------------------------------------------------------


def in_language(language: str) -> translation.override:
    """The messages a task stores on rows and batches in the language of the person who asked for the work (a worker
    or a thread starts in no request's language); the site's default for tasks queued without one."""
    return translation.override(language or settings.LANGUAGE_CODE)


class FileAtHand(NamedTuple):
    """An upload's file as the request that queued its staging opened and checked it."""

    batch_id: str
    upload: IO[bytes]
    book: Book


#: The file of the staging task the request is queueing. A backend that runs the task at once, on this thread
#: (Django's ``ImmediateBackend``), hands it to the task in the same context; a worker, or a thread, sees None.
_at_hand: ContextVar[FileAtHand | None] = ContextVar("bulkupload_file_at_hand", default=None)


@contextmanager
def handing(at_hand: FileAtHand | None) -> Iterator[None]:
    """Within the block, a staging task of ``at_hand``'s batch run on this thread reads ``at_hand`` (None: nothing)."""
    token = _at_hand.set(at_hand)
    try:
        yield
    finally:
        _at_hand.reset(token)


def run_staging(batch_id: Any, *, sheet: str | None, positions: dict[str, int] | None) -> str:
    """The staging task's work: read and check the stored file; on failure say why and let the user upload again.

    A task run at once in the request that kept the file reads it as the request opened it (:func:`handing`):
    the same bytes, opened and checked once.
    """
    batch = UploadBatch.objects.filter(pk=batch_id, status=Status.STAGING).first()
    if batch is None:
        return "gone"  # purged or handled meanwhile
    at_hand = _at_hand.get()
    try:
        with progress.tracking(progress.file_listener(batch.pk)):
            progress.start("reading", max(_rows_to_read(batch, sheet), 1))
            if at_hand is not None and at_hand.batch_id == str(batch.pk):
                upload, book, name = at_hand.upload, at_hand.book, batch.file_name
                services.stage_upload(batch=batch, upload=upload, name=name, book=book, sheet=sheet, positions=positions, queued=True)
            else:
                services.stage_held_upload(batch=batch, sheet=sheet, positions=positions, queued=True)
    except (FileRejected, BatchNotReady) as exc:
        services.record_task_failure(batch_id=batch_id, message=str(exc), status=Status.DRAFT, drop_file=True)
        return "rejected"
    except Exception:
        logger.exception("Reading upload %s failed", batch_id)
        message = _("Reading the file failed unexpectedly. Please upload it again.")
        services.record_task_failure(batch_id=batch_id, message=message, status=Status.DRAFT, drop_file=True)
        raise
    finally:
        progress.clear(batch_id)
    return "staged"


def planned_rows(plan: dict[str, Any] | None, sheet: str | None) -> int:
    """The rows with a value of ``sheet`` (the plan's own choice when None), counted when the file was planned; 0 unknown."""
    from .mapping import FilePlan

    found = FilePlan.from_json(plan or {})
    return found.rows(sheet) if found is not None else 0


def _rows_to_read(batch: UploadBatch, sheet: str | None) -> int:
    """The data rows the bar counts: as the plan kept with the batch counted them, else estimated from the stored file."""
    if rows := planned_rows(batch.plan, sheet):
        return rows - 1  # the header row is one of them
    with batch.source_file.open("rb") as stored:
        # The header row is one of the lines; the count is a guide for the bar.
        return estimate_rows(stored, name=batch.file_name, sheet=sheet) - 1


def run_apply(batch_id: Any) -> str:
    """The apply task's work; on failure nothing is written and the batch is ready to confirm again."""
    batch = UploadBatch.objects.filter(pk=batch_id, status=Status.APPLYING).first()
    if batch is None:
        return "gone"
    try:
        with progress.tracking(progress.file_listener(batch_id)):
            progress.start("applying", batch.valid_count)
            services.apply_batch(
                batch_id=batch_id, overwrite=batch.overwrite, skip_invalid=batch.skip_invalid, queued=True, on_changed=batch.on_changed
            )
    except ChangedSincePreview as exc:
        # Nothing was written; the confirm page now offers to overwrite or keep them (the request never reads them all).
        services.record_task_failure(batch_id=batch_id, message=str(exc), status=Status.READY, changed_count=exc.count)
        return "refused"
    except BatchNotReady as exc:
        services.record_task_failure(batch_id=batch_id, message=str(exc), status=Status.READY)
        return "refused"
    except Exception:
        # One transaction: whatever broke (the database, a bug), nothing was written.
        logger.exception("Applying upload %s failed", batch_id)
        message = _("Nothing was saved: the import failed part-way and was rolled back. Please try again.")
        services.record_task_failure(batch_id=batch_id, message=message, status=Status.READY)
        raise
    finally:
        progress.clear(batch_id)
    return "applied"
