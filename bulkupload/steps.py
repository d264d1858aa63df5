"""The work of each wizard step, done once its form is valid: one call per step, from the wizard's ``process_step``.

The forms only check what the user entered; these calls write (through the services, in the request or on a
task worker). A refusal comes back as :class:`~bulkupload.exceptions.FileRejected` or
:class:`~bulkupload.exceptions.BatchNotReady`, which the wizard shows as an error on the step.
"""

from __future__ import annotations

from typing import IO, Any

from . import background, mapping, services, values
from .models import UploadBatch
from .reading import Book
from .spec import UploadSpec


def receive_file(*, batch: UploadBatch, upload: IO[bytes], name: str, plan: mapping.FilePlan, book: Book | None = None) -> UploadBatch:
    """Step ``upload``: stage the file's rows (or queue them), or keep the file for the columns step to map.

    ``book``: the file as the form opened and checked it to plan it; its rows are staged from it, and it is closed here.
    """
    try:
        values.reset(batch)  # a new file: its dates and values are looked at afresh
        if plan.automatic:
            return background.stage_or_queue(batch, upload, name=name, sheet=plan.sheet, plan=plan.as_json(), book=book)
        # Headers that do not all match, or a choice of sheets: the columns step asks, from the plan kept here.
        return services.hold_upload(batch=batch, upload=upload, name=name, sheet=plan.sheet, plan=plan.as_json())
    finally:
        if book is not None:
            book.close()


def stage_chosen_columns(
    *, batch: UploadBatch, spec: UploadSpec, user: Any, plan: mapping.FilePlan, positions: dict[str, int]
) -> UploadBatch:
    """Step ``columns``: stage the held file with the columns the user chose, and remember the choice for next time."""
    values.reset(batch)
    staged = background.stage_held_or_queue(batch, sheet=plan.sheet, positions=positions)
    if user is not None:
        services.remember_column_choices(user=user, spec=spec, header=plan.header, positions=positions)
    return staged


def apply_value_choices(
    *,
    batch: UploadBatch,
    spec: UploadSpec,
    user: Any,
    mappings: dict[str, dict[str, str]],
    date_orders: dict[str, str] | None,
) -> UploadBatch:
    """Step ``values``: map the unmatched values and set the date orders on the staged rows, and remember the mappings."""
    if date_orders is None:
        applied = values.apply_values(batch, mappings=mappings, check={"done": True})
    else:
        applied = values.apply_values(batch, mappings=mappings, date_orders=date_orders, check={"done": True})
    if user is not None and mappings:
        values.remember_values(user, spec, mappings)
    return applied
