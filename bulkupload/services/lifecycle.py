"""An upload's life around its work: created, discarded, purged when abandoned."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import conf
from ..models import UploadBatch
from ..spec import UploadSpec
from .base import _delete_file


def create_batch(spec: UploadSpec, user: Any) -> UploadBatch:
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


def discard_batch(batch_id: Any) -> None:
    """Delete an upload that was never applied, with its file (a command-line import that could not read its file)."""
    with transaction.atomic():
        batch = UploadBatch.objects.select_for_update().filter(pk=batch_id).exclude(status=UploadBatch.Status.APPLIED).first()
        if batch is None:
            return
        name = batch.source_file.name
        batch.delete()
        transaction.on_commit(lambda: _delete_file(name) if name else None)
