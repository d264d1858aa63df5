"""Long work on a task worker: whether to, queueing it, running it, and recording a failure.

Above ``BULKUPLOAD["TASK_THRESHOLD_ROWS"]`` rows, staging (reading and checking)
and applying run as tasks of Django's tasks framework (:mod:`bulkupload.tasks`).
With the default ``ImmediateBackend`` a task runs at once, in the request; with a
real backend (``django_tasks_db`` and its ``db_worker``, say) a worker runs it and
the wizard shows a progress page meanwhile. These are the task path's writes to
:class:`UploadBatch`, beside :mod:`bulkupload.services`, which do the work itself.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
import uuid
import zipfile
from typing import IO, Any

from django.core.signals import request_finished, request_started
from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from . import conf, limits, progress, services, signals
from .exceptions import BatchNotReady, ChangedSincePreview, FileRejected
from .models import UploadBatch
from .reading import XLSX, sniff_format

logger = logging.getLogger(__name__)
Status = UploadBatch.Status


def runs_in_background(rows: int) -> bool:
    """Whether work over ``rows`` rows goes to a task rather than the request."""
    return rows > conf.get("TASK_THRESHOLD_ROWS")


def estimate_rows(fileobj: IO[bytes], *, name: str, sheet: str | None = None) -> int:
    """About how many rows the file has, cheaply (lines of a CSV, a sheet's declared size); 0 when unknown."""
    fileobj.seek(0)
    try:
        kind = sniff_format(fileobj.read(2048))
        fileobj.seek(0)
        if kind != XLSX:
            return sum(block.count(b"\n") for block in iter(lambda: fileobj.read(1 << 20), b""))
        return _declared_rows(fileobj)
    except (FileRejected, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError, IndexError):
        return 0  # the reader will say what is wrong with the file
    finally:
        fileobj.seek(0)


DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="[A-Z]{1,3}\d+(?::[A-Z]{1,3}(\d+))?"')
#: Bytes of sheet XML per row, to guess a sheet's size when it declares none.
BYTES_PER_ROW = 100


def _declared_rows(fileobj: IO[bytes]) -> int:
    """The largest row count a worksheet declares, read from the first bytes of each sheet part only.

    Loading the workbook (shared strings, styles) to ask would cost seconds on a large file; an
    estimate is enough to choose between the request and a worker, and the reader counts for real.
    """
    best = 0
    with zipfile.ZipFile(fileobj) as archive:
        for info in archive.infolist():
            if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                continue
            with archive.open(info) as part:
                head = part.read(4096)
            match = DIMENSION.search(head)
            rows = int(match.group(1) or 1) if match else info.file_size // BYTES_PER_ROW
            best = max(best, rows)
    return best


# --- staging ---------------------------------------------------------------------------


def stage_upload(
    batch: UploadBatch, upload: IO[bytes], *, name: str, sheet: str | None = None, positions: dict[str, int] | None = None
) -> UploadBatch:
    """:func:`services.stage_upload` in the request, or on a task worker when the file is large."""
    if not runs_in_background(estimate_rows(upload, name=name, sheet=sheet)):
        _forget_failure(batch)
        return services.stage_upload(batch, upload, name=name, sheet=sheet, positions=positions)
    with transaction.atomic():
        limits.check_queued_tasks(batch.owner_id)  # before the file is kept; checked again when the batch is claimed
    services.hold_upload(batch, upload, name=name, sheet=sheet)
    return queue_staging(batch, sheet=sheet, positions=positions)


def stage_held_upload(batch: UploadBatch, *, sheet: str | None, positions: dict[str, int]) -> UploadBatch:
    """:func:`services.stage_held_upload` in the request, or on a task worker when the file is large."""
    with batch.source_file.open("rb") as stored:
        rows = estimate_rows(stored, name=batch.file_name, sheet=sheet)
    if not runs_in_background(rows):
        _forget_failure(batch)
        return services.stage_held_upload(batch, sheet=sheet, positions=positions)
    return queue_staging(batch, sheet=sheet, positions=positions)


def queue_staging(batch: UploadBatch, *, sheet: str | None, positions: dict[str, int] | None) -> UploadBatch:
    """Hand the batch's stored file to a task that reads and checks it.

    Raises :class:`FileRejected` when the task already ran (the immediate backend)
    and could not read the file, so the upload step shows why, as it does inline.
    """
    from . import tasks

    with transaction.atomic():
        limits.check_queued_tasks(batch.owner_id)
        claimed = UploadBatch.objects.filter(pk=batch.pk, status__in=[Status.DRAFT, Status.READY]).update(
            status=Status.STAGING, task_error="", updated_at=timezone.now()
        )
    if not claimed:
        raise BatchNotReady(_("This upload is already being read or applied."))
    progress.file_listener(batch.pk)(progress.Snapshot())
    _enqueue(batch.pk, tasks.stage_batch, str(batch.pk), sheet, positions)
    batch.refresh_from_db()
    if batch.status == Status.DRAFT and batch.task_error:
        raise FileRejected(batch.task_error)
    return batch


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


# --- applying --------------------------------------------------------------------------


def apply_batch(
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
            _forget_failure(batch)
        return services.apply_batch(batch_id, overwrite=overwrite, skip_invalid=skip_invalid, on_changed=on_changed)
    return queue_apply(batch_id, overwrite=overwrite, skip_invalid=skip_invalid, on_changed=on_changed)


def queue_apply(
    batch_id: Any, *, overwrite: bool, skip_invalid: bool, on_changed: str = UploadBatch.OnChanged.STOP
) -> tuple[UploadBatch, bool]:
    """Claim a ready batch for applying (once: a second click finds it claimed) and queue the task.

    Refuses with :class:`LimitReached` when the owner already has
    ``MAX_QUEUED_TASKS_PER_USER`` uploads waiting for or on a worker.
    """
    from . import tasks

    with transaction.atomic():
        owner_id = UploadBatch.objects.filter(pk=batch_id).values_list("owner_id", flat=True).first()
        if owner_id is not None:
            limits.check_queued_tasks(owner_id)
        claimed = UploadBatch.objects.filter(pk=batch_id, status=Status.READY).update(
            status=Status.APPLYING,
            overwrite=overwrite,
            skip_invalid=skip_invalid,
            on_changed=on_changed,
            changed_count=0,
            task_error="",
            updated_at=timezone.now(),
        )
    batch = UploadBatch.objects.get(pk=batch_id)
    if not claimed:
        return batch, False
    progress.file_listener(batch_id)(progress.Snapshot())
    _enqueue(batch_id, tasks.apply_batch, str(batch_id))
    batch.refresh_from_db()
    if batch.status == Status.READY and batch.task_error:
        raise BatchNotReady(batch.task_error)
    return batch, True


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
        UploadBatch.objects.filter(pk=batch_id).update(task_id=str(result.id)[:64])
        return
    UploadBatch.objects.filter(pk=batch_id).update(task_id=f"thread-{uuid.uuid4().hex}"[:64])
    thread = threading.Thread(target=_run_on_thread, args=(task, args), name=f"bulkupload-{batch_id}", daemon=True)
    if getattr(_request, "active", False):
        # Started once the response is complete: the request's own last writes (the wizard's session) would
        # otherwise wait on SQLite for the task's write lock, i.e. for the whole work.
        _request.pending.append(thread)
    else:
        thread.start()


_request = threading.local()


@receiver(request_started)
def _request_started(**kwargs: Any) -> None:
    _request.active, _request.pending = True, []


@receiver(request_finished)
def _request_finished(**kwargs: Any) -> None:
    pending, _request.active, _request.pending = getattr(_request, "pending", []), False, []
    for thread in pending:
        thread.start()


def _run_on_thread(task: Any, args: tuple[Any, ...]) -> None:
    """Run one task on this thread (the backend runs it at once); a failure is recorded on the batch by the task."""
    try:
        task.enqueue(*args)
    except Exception:  # the task already logged it and put the batch back where the user can try again
        logger.debug("Background task %s ended with an error", task.name, exc_info=True)
    finally:
        connections.close_all()  # this thread's own database connections


def _forget_failure(batch: UploadBatch) -> None:
    """A new attempt in the request: the last task's failure no longer applies."""
    if batch.task_error:
        UploadBatch.objects.filter(pk=batch.pk).update(task_error="")
        batch.task_error = ""


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
    """Put working ``batches`` back where the user can upload or confirm again, with a message; skip those a live task holds."""
    message = _("The background work stopped without finishing. Nothing was saved; please try again.")
    released = []
    with transaction.atomic():
        stalled = batches.select_for_update(skip_locked=True).filter(status__in=[Status.STAGING, Status.APPLYING])
        for batch in stalled:
            batch.status = Status.DRAFT if batch.status == Status.STAGING else Status.READY
            batch.task_error = message
            batch.save(update_fields=["status", "task_error", "updated_at"])
            released.append(batch)
    return released


def state(batch: UploadBatch) -> str:
    """``working``, ``failed`` (the last task's message is on the batch) or ``done``."""
    if batch.is_working:
        return "working"
    if batch.task_error and batch.status in (Status.DRAFT, Status.READY):
        return "failed"
    return "done"
