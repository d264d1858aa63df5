"""Long work on a task worker: whether to, and queueing it.

Above ``BULKUPLOAD["TASK_THRESHOLD_ROWS"]`` rows, staging (reading and checking)
and applying run as tasks of Django's tasks framework (:mod:`bulkupload.tasks`).
With the default ``ImmediateBackend`` a task runs at once, in the request; with a
real backend (``django_tasks_db`` and its ``db_worker``, say) a worker runs it and
the wizard shows a progress page meanwhile. The tasks' own work is in
:mod:`bulkupload.tasks`, which never imports this module (the import runs one way, from
the decision to the task); every write to a batch (a claim, a task's id, a failure, a
release) is a service (:mod:`bulkupload.services.lifecycle`). This module decides and enqueues.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import IO, Any

from django.db import connections, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from . import afterresponse, conf, limits, progress, services, tasks
from .exceptions import BatchInWrongStatus, FileRejected, TaskRefused
from .models import UploadBatch
from .reading import Book
from .reading.estimate import estimate_rows

# Kept importable from here, where the views, the admin, the API and the command have always found them.
from .services import release_stalled
from .tasks import run_apply, run_staging

__all__ = ["estimate_rows", "release_stalled", "run_apply", "run_staging"]
Status = UploadBatch.Status
logger = logging.getLogger(__name__)


def runs_in_background(rows: int) -> bool:
    """Whether work over ``rows`` rows goes to a task rather than the request."""
    return rows > conf.get("TASK_THRESHOLD_ROWS")


def planned_rows(plan: dict[str, Any] | None, sheet: str | None) -> int:
    """The rows with a value of ``sheet`` (the plan's own choice when None), counted when the file was planned; 0 unknown."""
    return tasks.planned_rows(plan, sheet)


# --- staging ---------------------------------------------------------------------------


def stage_or_queue(
    batch: UploadBatch,
    upload: IO[bytes],
    *,
    name: str,
    sheet: str | None = None,
    positions: dict[str, int] | None = None,
    plan: dict[str, Any] | None = None,
    book: Book | None = None,
) -> UploadBatch:
    """:func:`services.stage_upload` in the request, or on a task worker when the file is large.

    ``book``: ``upload`` as it was opened and checked to plan it; staged in the request, its rows are read from it.
    """
    if not runs_in_background(planned_rows(plan, sheet) or estimate_rows(upload, name=name, sheet=sheet)):
        services.forget_task_error(batch=batch)
        return services.stage_upload(batch=batch, upload=upload, name=name, book=book, sheet=sheet, positions=positions, plan=plan)
    with transaction.atomic():
        limits.check_queued_tasks(batch.owner_id)  # before the file is kept; checked again when the batch is claimed
    services.hold_upload(batch=batch, upload=upload, name=name, sheet=sheet, plan=plan)
    at_hand = tasks.FileAtHand(str(batch.pk), upload, book) if book is not None else None
    return queue_staging(batch, sheet=sheet, positions=positions, at_hand=at_hand)


def stage_held_or_queue(batch: UploadBatch, *, sheet: str | None, positions: dict[str, int]) -> UploadBatch:
    """:func:`services.stage_held_upload` in the request, or on a task worker when the file is large."""
    rows = planned_rows(batch.plan, sheet)
    if not rows:
        with batch.source_file.open("rb") as stored:
            rows = estimate_rows(stored, name=batch.file_name, sheet=sheet)
    if not runs_in_background(rows):
        services.forget_task_error(batch=batch)
        return services.stage_held_upload(batch=batch, sheet=sheet, positions=positions)
    return queue_staging(batch, sheet=sheet, positions=positions)


def queue_staging(
    batch: UploadBatch, *, sheet: str | None, positions: dict[str, int] | None, at_hand: tasks.FileAtHand | None = None
) -> UploadBatch:
    """Hand the batch's stored file to a task that reads and checks it.

    Raises :class:`FileRejected` when the task already ran (the immediate backend)
    and could not read the file, so the upload step shows why, as it does inline.
    ``at_hand``: the file as this request opened and checked it; a task run at once on this thread reads it from
    there instead of opening the stored copy a second time (a worker, or a thread after the response, opens its own).
    """
    if not services.claim_for_staging(batch=batch):
        raise BatchInWrongStatus(_("This upload is already being read or applied."))
    progress.file_listener(batch.pk)(progress.Snapshot())
    with tasks.handing(at_hand):
        _enqueue(batch.pk, tasks.stage_queued_batch, str(batch.pk), sheet, positions, translation.get_language() or "")
    batch.refresh_from_db()
    if batch.status == Status.DRAFT and batch.task_error:
        raise FileRejected(batch.task_error)
    return batch


# --- applying --------------------------------------------------------------------------


def apply_or_queue(
    batch_id: Any, *, overwrite: bool = True, skip_invalid: bool = False, on_changed: str = UploadBatch.OnChanged.STOP
) -> tuple[UploadBatch, bool]:
    """:func:`services.apply_batch` in the request, or queued for a task worker when the batch is large.

    Returns the batch and whether this call applied or queued it (False when
    another request already did). A queued batch's status is ``applying``.
    Records changed since the preview are looked for by the worker (reading them
    all in the request would cost as much as applying): it refuses, writing
    nothing, and the confirm page then asks what to do with them.
    """
    batch = UploadBatch.objects.filter(pk=batch_id).first()
    if batch is None or not runs_in_background(batch.valid_count):
        if batch is not None:
            services.forget_task_error(batch=batch)
        return services.apply_batch(batch_id=batch_id, overwrite=overwrite, skip_invalid=skip_invalid, on_changed=on_changed)
    return queue_apply(batch_id, overwrite=overwrite, skip_invalid=skip_invalid, on_changed=on_changed)


def queue_apply(
    batch_id: Any, *, overwrite: bool, skip_invalid: bool, on_changed: str = UploadBatch.OnChanged.STOP
) -> tuple[UploadBatch, bool]:
    """Claim a ready batch for applying (once: a second click finds it claimed) and queue the task.

    Refuses with :class:`LimitReached` when the owner already has
    ``MAX_QUEUED_TASKS_PER_USER`` uploads waiting for or on a worker.
    """
    claimed = services.claim_for_applying(batch_id=batch_id, overwrite=overwrite, skip_invalid=skip_invalid, on_changed=on_changed)
    batch = UploadBatch.objects.get(pk=batch_id)
    if not claimed:
        return batch, False
    progress.file_listener(batch_id)(progress.Snapshot())
    _enqueue(batch_id, tasks.apply_queued_batch, str(batch_id), translation.get_language() or "")
    batch.refresh_from_db()
    if batch.status == Status.READY and batch.task_error:
        raise TaskRefused(batch.task_error)
    return batch, True


def on_thread(task: Any) -> bool:
    """Whether ``task`` runs on a thread of this process: its backend runs tasks in the process
    (``ImmediateBackend``) and ``BULKUPLOAD["TASKS_ON_THREAD"]`` asks for the request to return at once."""
    from .compat import task_backends

    return bool(conf.get("TASKS_ON_THREAD")) and type(task_backends[task.backend]).__name__ == "ImmediateBackend"


def _enqueue(batch_id: Any, task: Any, *args: Any) -> None:
    """Queue ``task`` for the batch and remember its id; with an in-process backend, on a thread when so configured.

    The task id is written before the thread starts: on SQLite the task holds the write lock for its whole
    transaction, so a write after it started would wait for the work to end (the very wait this avoids).
    """
    if not on_thread(task):
        result = task.enqueue(*args)
        services.record_task_id(batch_id=batch_id, task_id=str(result.id))
        return
    services.record_task_id(batch_id=batch_id, task_id=f"thread-{uuid.uuid4().hex}")
    # Started once the response is complete: the request's own last writes (the wizard's session) would otherwise
    # wait on SQLite for the task's write lock, i.e. for the whole work.
    afterresponse.start(threading.Thread(target=_run_on_thread, args=(task, args), name=f"bulkupload-{batch_id}", daemon=True))


def _run_on_thread(task: Any, args: tuple[Any, ...]) -> None:
    """Run one task on this thread (the backend runs it at once); a failure is recorded on the batch by the task."""
    try:
        task.enqueue(*args)
    except Exception:  # the task already logged it and put the batch back where the user can try again
        logger.debug("Background task %s ended with an error", task.name, exc_info=True)
    finally:
        connections.close_all()  # this thread's own database connections


def state(batch: UploadBatch) -> str:
    """``working``, ``failed`` (the last task's message is on the batch) or ``done``."""
    if batch.is_working:
        return "working"
    if batch.task_error and batch.status in (Status.DRAFT, Status.READY):
        return "failed"
    return "done"
