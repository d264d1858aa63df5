"""What one user may hold at once, the automatic purge of abandoned uploads, and the request body's size.

Each limit is a setting in :mod:`bulkupload.conf` (0 turns it off) and is
reached with a message that names it. Stored bytes are checked where a file is
kept (:func:`bulkupload.services.check_stored_bytes`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import conf
from .exceptions import LimitReached
from .models import UploadBatch

logger = logging.getLogger(__name__)
Status = UploadBatch.Status
#: Statuses of an upload that is not finished: it keeps rows, and perhaps a file.
OPEN_STATUSES = (Status.DRAFT, Status.STAGING, Status.READY, Status.APPLYING)


def check_open_uploads(user: Any) -> None:
    """:class:`LimitReached` when ``user`` already has ``MAX_OPEN_UPLOADS_PER_USER`` unfinished uploads."""
    limit = conf.get("MAX_OPEN_UPLOADS_PER_USER")
    if not limit:
        return
    count = UploadBatch.objects.filter(owner=user, status__in=OPEN_STATUSES).count()
    if count >= limit:
        raise LimitReached(
            ngettext(
                "You have %(count)d unfinished upload, the most allowed at once. "
                "Confirm it first; unfinished uploads are removed after %(hours)d hours.",
                "You have %(count)d unfinished uploads, the most allowed at once. "
                "Confirm one of them first; unfinished uploads are removed after %(hours)d hours.",
                count,
            )
            % {"count": count, "hours": conf.get("PURGE_AFTER_HOURS")}
        )


def check_queued_tasks(owner_id: Any) -> None:
    """:class:`LimitReached` when the owner already has ``MAX_QUEUED_TASKS_PER_USER`` uploads waiting for or on a worker.

    Call it inside the transaction that claims the batch: the owner's user row is
    locked there, so two claims of one user never both pass the count.
    """
    limit = conf.get("MAX_QUEUED_TASKS_PER_USER")
    if not limit:
        return
    list(get_user_model()._default_manager.select_for_update().filter(pk=owner_id).values_list("pk"))
    count = UploadBatch.objects.filter(owner_id=owner_id, status__in=(Status.STAGING, Status.APPLYING)).count()
    if count >= limit:
        raise LimitReached(
            ngettext(
                "You already have %(count)d upload being read or saved in the background, the most allowed at once. "
                "Wait until it has finished, then try again.",
                "You already have %(count)d uploads being read or saved in the background, the most allowed at once. "
                "Wait until one has finished, then try again.",
                count,
            )
            % {"count": count}
        )


def purge_if_due() -> bool:
    """Purge abandoned uploads (and release stalled ones) when the last purge is ``PURGE_EVERY_MINUTES`` old.

    Called whenever an upload starts, so abandoned files go away without anyone
    running the command. The time of the last purge is a file's modification time
    in ``FILE_ROOT``, shared by every web and task worker. Returns whether it purged.
    """
    minutes = conf.get("PURGE_EVERY_MINUTES")
    if not minutes:
        return False
    marker = Path(conf.get("FILE_ROOT")) / ".last-purge"
    try:
        if time.time() - marker.stat().st_mtime < minutes * 60:
            return False
    except FileNotFoundError:
        pass
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.utime(marker)
    except OSError:
        logger.warning("Cannot write %s; abandoned uploads are purged only by the command", marker, exc_info=True)
        return False
    from . import background, services

    background.release_stalled()
    services.purge_abandoned()
    return True


def request_limit() -> int:
    """The largest request body an upload step reads: ``MAX_FILE_SIZE`` plus ``REQUEST_SIZE_MARGIN``."""
    return conf.get("MAX_FILE_SIZE") + conf.get("REQUEST_SIZE_MARGIN")


def body_too_large(request: HttpRequest) -> str:
    """The refusal message when the request declares a body over :func:`request_limit`, else ``""``.

    Django reads no more of a body than its ``Content-Length`` declares, so the
    declared length decides, before a byte of the body is read or spooled.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= request_limit():
        return ""
    return _("The upload is %(size)s; files of at most %(limit)s are accepted. Nothing was read.") % {
        "size": filesizeformat(length),
        "limit": filesizeformat(conf.get("MAX_FILE_SIZE")),
    }
