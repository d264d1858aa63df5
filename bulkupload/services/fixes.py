"""Fixes the user types into the preview's rows, each row written only at the version the user saw."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..exceptions import NoFileYet, StaleRows
from ..models import UploadBatch, UploadRow
from .base import READY, lock_batch
from .validating import _revalidate


def save_fixes(batch: UploadBatch, edits: dict[int, dict[str, str]], *, versions: dict[int, int] | None = None) -> UploadBatch:
    """Replace cells of rows the user fixed in the preview, then revalidate; return the batch as it now stands.

    The batch is locked and must be ``ready`` inside the transaction: a fix racing a
    confirm waits for it and is then refused with :class:`BatchNotReady`, never
    un-applying the upload. ``versions`` (row id → the row's ``version`` the user
    saw): each such row is written only if it is still at that version; otherwise
    :class:`StaleRows` names the rows written since and nothing is saved.
    """
    with transaction.atomic():
        locked = lock_batch(batch.pk, READY)
        if not locked.source_file and not locked.total_rows:
            raise NoFileYet(_("Upload a file first."))
        rows = list(locked.rows.filter(pk__in=list(edits)).only("id", "row_number", "values"))
        for row in rows:
            row.values = {**row.values, **{k: str(v).strip() for k, v in edits[row.pk].items()}}
            row.version = F("version") + 1
        _write_fixed_cells(rows, versions or {})
        _revalidate(locked, [row.pk for row in rows])
    return locked


def _write_fixed_cells(rows: list[UploadRow], versions: dict[int, int]) -> None:
    """Write the rows' cells; a row with an expected version is written only at that version (UPDATE … WHERE version)."""
    stale = [
        row.row_number
        for row in rows
        if row.pk in versions
        and not UploadRow.objects.filter(pk=row.pk, version=versions[row.pk]).update(values=row.values, version=F("version") + 1)
    ]
    if stale:
        shown = ", ".join(str(number) for number in sorted(stale))
        raise StaleRows(
            ngettext(
                "Row %(rows)s was changed since you loaded it; load it again and repeat your change.",
                "Rows %(rows)s were changed since you loaded them; load them again and repeat your changes.",
                len(stale),
            )
            % {"rows": shown},
            sorted(stale),
        )
    UploadRow.objects.bulk_update([row for row in rows if row.pk not in versions], ["values", "version"])
