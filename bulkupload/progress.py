"""How far long work has come: rows done in the current phase, for a progress page or bar.

Services report with :func:`start` and :func:`advance`; both do nothing unless a
caller listens with :func:`tracking`. The work itself runs in one transaction, so
its progress cannot travel through the database (nobody else sees it before the
commit): a background task writes it to a small file beside the upload's file in
``BULKUPLOAD["FILE_ROOT"]``, which web and task workers share anyway, and the
command line prints it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

#: The phases long work goes through, with the words a person reads.
PHASES = {
    "queued": _("Waiting for a worker"),
    "reading": _("Reading and checking the rows"),
    "applying": _("Saving the rows"),
}


@dataclass
class Snapshot:
    """Where the work stands: ``done`` of ``total`` rows (``total`` None while unknown) in ``phase``."""

    phase: str = "queued"
    done: int = 0
    total: int | None = None
    #: When the phase began (a Unix time), for the estimate of the time left.
    started: float | None = None

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        if self.done == self.total:
            return 100
        # The total of the reading phase is counted from the file's lines: past it, the end is still to come.
        return min(99, self.done * 100 // self.total)

    def remaining_seconds(self, now: float | None = None) -> int | None:
        """About how long the phase still takes, at the pace so far; None until that pace says enough to be
        trusted (a tenth of the rows and two seconds in), so the estimate is never wildly off."""
        if not self.total or not self.started or self.done <= 0:
            return None
        elapsed = (now if now is not None else time.time()) - self.started
        if elapsed < ESTIMATE_AFTER_SECONDS or self.done * 10 < self.total:
            return None
        return max(1, round(elapsed * max(self.total - self.done, 0) / self.done))

    @property
    def label(self) -> str:
        return str(PHASES.get(self.phase, self.phase))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "percent": self.percent, "label": self.label, "remaining": self.remaining_seconds()}


#: Seconds of work before the page offers an estimate of the time left.
ESTIMATE_AFTER_SECONDS = 2


Listener = Callable[[Snapshot], None]
_listener: ContextVar[tuple[Listener, Snapshot] | None] = ContextVar("bulkupload_progress", default=None)


@contextmanager
def tracking(listener: Listener) -> Iterator[Snapshot]:
    """Call ``listener`` with a :class:`Snapshot` whenever work in this block reports progress."""
    snapshot = Snapshot()
    token = _listener.set((listener, snapshot))
    try:
        yield snapshot
    finally:
        _listener.reset(token)


def start(phase: str, total: int | None = None) -> None:
    """A new phase begins, over ``total`` rows when known."""
    current = _listener.get()
    if current is None:
        return
    listener, snapshot = current
    snapshot.phase, snapshot.done, snapshot.total, snapshot.started = phase, 0, total, time.time()
    listener(snapshot)


def advance(rows: int) -> None:
    """``rows`` more rows of the current phase are done."""
    current = _listener.get()
    if current is None:
        return
    listener, snapshot = current
    snapshot.done += rows
    listener(snapshot)


def status_label(batch: Any) -> str:
    """Where an upload stands, in a person's words: the columns step is named as such, not "Waiting for a file"."""
    if batch.status == batch.Status.DRAFT and batch.needs_columns and batch.source_file:
        return str(_("Matching columns"))
    return str(batch.get_status_display())


# --- the file a background task writes and the progress page reads ---------------------


def _path(batch_id: Any) -> str:
    from .models import private_storage

    return os.path.join(private_storage().location, str(batch_id), "progress.json")


def file_listener(batch_id: Any) -> Listener:
    """A listener that keeps the batch's progress file up to date (written whole, then renamed)."""
    path = _path(batch_id)

    def write(snapshot: Snapshot) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{os.getpid()}.tmp"
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(asdict(snapshot), out)
        os.replace(partial, path)

    return write


def read(batch_id: Any) -> Snapshot:
    """The batch's last reported progress (a fresh :class:`Snapshot` when none was written yet)."""
    try:
        with open(_path(batch_id), encoding="utf-8") as stored:
            data = json.load(stored)
        started = data.get("started")
        return Snapshot(phase=str(data["phase"]), done=int(data["done"]), total=data["total"], started=float(started) if started else None)
    except (OSError, ValueError, KeyError, TypeError):
        return Snapshot()


def last_report(batch_id: Any) -> float | None:
    """When the batch's progress was last written (a Unix time), None when it never was: the task's heartbeat."""
    try:
        return os.path.getmtime(_path(batch_id))
    except OSError:
        return None


def clear(batch_id: Any) -> None:
    """Forget the batch's progress file (the work ended)."""
    with suppress(FileNotFoundError):
        os.remove(_path(batch_id))
