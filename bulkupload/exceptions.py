"""Errors the engine raises for people, each with a message that says what and where."""

from django.utils.translation import gettext as _


class FileRejected(Exception):
    """The file cannot be read as a table for this spec.

    ``message`` says what is wrong; ``sheet``, ``row`` and ``column`` say where
    when that is known. ``str()`` gives both in one sentence for the user.
    """

    def __init__(
        self, message: str, *, file: str | None = None, sheet: str | None = None, row: int | None = None, column: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.sheet = sheet
        self.row = row
        self.column = column

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(_("file “%(file)s”") % {"file": self.file})
        if self.sheet:
            parts.append(_("sheet “%(sheet)s”") % {"sheet": self.sheet})
        if self.row is not None:
            parts.append(_("row %(row)d") % {"row": self.row})
        if self.column:
            parts.append(_("column “%(column)s”") % {"column": self.column})
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{self.message} ({where})" if where else self.message


class BatchNotReady(Exception):
    """The upload cannot take this change as it stands; the subclasses say why (catch this for any of them)."""


class BatchGone(BatchNotReady):
    """The upload no longer exists (discarded, or purged as abandoned)."""


class NoFileYet(BatchNotReady):
    """The upload has no file (or no staged rows) yet: upload one first."""


class BatchInWrongStatus(BatchNotReady):
    """The upload's status forbids the change: applied, rolled back, or being read or applied by a task right now."""


class InvalidRowsLeft(BatchNotReady):
    """Confirming would apply invalid rows: fix them or choose to skip them."""


class RecordsVanished(BatchNotReady):
    """Records the confirm was updating were deleted or changed while it saved: nothing was saved."""


class TaskRefused(BatchNotReady):
    """The task the change was handed to refused it; its message (kept on the batch) says why."""


class RollbackConflict(Exception):
    """Records written by the batch were changed since; ``rows`` names them."""

    def __init__(self, message: str, rows: list[int]) -> None:
        super().__init__(message)
        self.rows = rows


class StaleRows(Exception):
    """Rows were written since the version the user saw; ``rows`` names them by row number. Nothing was saved."""

    def __init__(self, message: str, rows: list[int]) -> None:
        super().__init__(message)
        self.rows = rows


class ScopeChanged(BatchNotReady):
    """The upload's owner no longer belongs to the scope (tenant) the upload was made in."""


class ChangedSincePreview(BatchNotReady):
    """Records the confirm would update were changed by someone else after the preview.

    ``count`` is how many; ``rows`` describes the first of them for the page:
    each a dict with ``row_number``, ``was_new`` and ``cells`` (``label``,
    ``previewed``, ``now``, ``file``).
    """

    def __init__(self, message: str, *, count: int, rows: list[dict]) -> None:
        super().__init__(message)
        self.count = count
        self.rows = rows


class LimitReached(BatchNotReady):
    """A per-user limit (open uploads, stored bytes, queued work) would be exceeded; the message says which."""
