"""An upload's life around its work: created, claimed for a task, failed or released, discarded, purged when abandoned.

:mod:`bulkupload.background` decides and enqueues, :mod:`bulkupload.tasks` runs the work; the writes to the batch
that go with both (a claim, a task's id, its failure, the release of one whose worker died) are these.
"""

from __future__ import annotations

import copy
import datetime
import time
from functools import partial
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import conf, progress, signals
from ..models import UploadBatch
from ..spec import UploadSpec
from .base import _delete_file

Status = UploadBatch.Status


def create_batch(*, spec: UploadSpec, user: Any) -> UploadBatch:
    """A new, empty upload for ``user``, waiting for its file (abandoned uploads are purged first when that is due)."""
    from .. import limits

    limits.purge_if_due()
    scope = spec.get_scope(user)
    return UploadBatch.objects.create(owner=user, spec=spec.slug, scope_key=spec.scope_key(scope))


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


def discard_batch(*, batch_id: Any, statuses: tuple[str, ...] | None = None) -> bool:
    """Delete an upload that was never applied, with its file; whether it was deleted.

    ``statuses``: only from these (the owner's discard: not while a task works on it); by default any but applied
    (a command-line import or an API upload that could not read its file). Locked, then checked: a confirm in
    another tab may have started applying it meanwhile.
    """
    with transaction.atomic():
        batches = UploadBatch.objects.select_for_update().filter(pk=batch_id).exclude(status=UploadBatch.Status.APPLIED)
        batch = (batches.filter(status__in=statuses) if statuses is not None else batches).first()
        if batch is None:
            return False
        name = batch.source_file.name
        batch.delete()
        transaction.on_commit(lambda: _delete_file(name) if name else None)
    return True


# --- tasks: claimed, their id kept, failed, released --------------------------------------------------


def claim_for_staging(*, batch: UploadBatch) -> bool:
    """Mark an open batch ``staging`` for a task (the owner's queued-task limit checked first); False when it was not open."""
    from .. import limits

    with transaction.atomic():
        limits.check_queued_tasks(batch.owner_id)
        claimed = UploadBatch.objects.filter(pk=batch.pk, status__in=[Status.DRAFT, Status.READY]).update(
            status=Status.STAGING, task_error="", updated_at=timezone.now()
        )
    return bool(claimed)


def claim_for_applying(*, batch_id: Any, overwrite: bool, skip_invalid: bool, on_changed: str) -> bool:
    """Mark a ready batch ``applying`` for a task, with the confirm's choices (once: a second click finds it claimed).

    Refuses with :class:`LimitReached` when the owner already has ``MAX_QUEUED_TASKS_PER_USER`` uploads waiting.
    """
    from .. import limits

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
    return bool(claimed)


def record_task_id(*, batch_id: Any, task_id: str) -> None:
    """Keep the id of the task queued for the batch."""
    UploadBatch.objects.filter(pk=batch_id).update(task_id=task_id[:64])


def forget_task_error(*, batch: UploadBatch) -> None:
    """A new attempt in the request: the last task's failure no longer applies."""
    if batch.task_error:
        UploadBatch.objects.filter(pk=batch.pk).update(task_error="")
        batch.task_error = ""


def record_task_failure(*, batch_id: Any, message: str, status: str, drop_file: bool = False, changed_count: int = 0) -> None:
    """A task's failure kept on the batch: back to ``status`` with ``message`` (its file dropped when asked); the signal sent."""
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
            transaction.on_commit(lambda: _delete_file(old_file))
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


def is_stalled(*, batch: UploadBatch) -> bool:
    """Whether ``batch``'s task stopped reporting progress: its worker died. Reads only; nothing is written.

    The heartbeat is the batch's progress file, written at every chunk. A task
    that has said nothing for ``TASK_STALLED_AFTER_SECONDS`` while reading or
    applying is taken as stopped; one still waiting for a worker is not. A task
    that is alive holds the batch's row in its transaction: where the database
    can tell (PostgreSQL), such a batch is not stalled however long its silence.
    """
    if not batch.is_working or progress.read(batch.pk).phase == "queued":
        return False
    reported = progress.last_report(batch.pk)
    if reported is None or time.time() - reported < conf.get("TASK_STALLED_AFTER_SECONDS"):
        return False
    if not connection.features.has_select_for_update_skip_locked:
        return True  # SQLite: a live task's write lock makes the release give up instead
    with transaction.atomic():
        return bool(UploadBatch.objects.select_for_update(skip_locked=True).filter(pk=batch.pk).values_list("pk", flat=True))


def as_released(*, batch: UploadBatch) -> UploadBatch:
    """``batch`` as :func:`release_if_stalled` would leave it, unsaved: what a GET shows of stalled work."""
    shown = copy.copy(batch)
    shown.status = Status.DRAFT if batch.status == Status.STAGING else Status.READY
    shown.task_error = stalled_message()
    return shown


def stalled_message() -> str:
    return _("The background work stopped without finishing. Nothing was saved; please try again.")


def release_if_stalled(*, batch: UploadBatch) -> bool:
    """Release ``batch`` (as :func:`release_stalled`) when :func:`is_stalled`; for a POST, never a GET.

    On SQLite a live task's lock makes the release give up. Returns whether the
    batch was released (``batch`` is then read again).
    """
    if not is_stalled(batch=batch):
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
    message = stalled_message()
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
