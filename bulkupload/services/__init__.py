"""Every write to uploads: stage, validate, fix, apply, roll back, purge.

Each public function is its own transaction and the only code that changes
:class:`UploadBatch` and :class:`UploadRow`. Work that grows with the file runs
in chunks of ``BULKUPLOAD["CHUNK_SIZE"]`` rows. One module per stage:
:mod:`.staging`, :mod:`.validating`, :mod:`.fixes` (the preview's fixes), :mod:`.values`
(the values step), :mod:`.applying` (and rolling back), :mod:`.lifecycle` (created,
queued, failed, released, purged), :mod:`.remembering`; :mod:`.base` holds what they share.
Callers use the names here: ``services.stage_upload(...)``.
"""

from __future__ import annotations

from .applying import apply_batch, rollback_batch, rollback_conflict
from .base import (
    ANALYZE_FROM_ROWS,
    OPEN,
    READY,
    STAGING,
    _chunks,
    _counts,
    _delete_file,
    batch_scope,
    lock_batch,
    not_ready,
    not_ready_message,
    save_fields,
)
from .fixes import exclude_duplicates, exclude_rows, include_rows, replace_cells, save_cell_edits, save_fixes
from .lifecycle import (
    as_released,
    claim_for_applying,
    claim_for_staging,
    create_batch,
    discard_batch,
    forget_task_error,
    is_stalled,
    purge_abandoned,
    record_task_failure,
    record_task_id,
    release_if_stalled,
    release_stalled,
)
from .remembering import remember_column_choices
from .staging import (
    STAGED_FIELDS,
    UNTOUCHED,
    check_size,
    check_stored_bytes,
    hold_upload,
    stage_held_upload,
    stage_upload,
)
from .validating import (
    RESULT_FIELDS,
    _finish_validation,
    _result_values,
    _revalidate,
    validate_batch,
)
from .values import apply_value_answers, forget_value_check, prepare_values, remember_value_choices

__all__ = [
    "ANALYZE_FROM_ROWS",
    "OPEN",
    "READY",
    "RESULT_FIELDS",
    "STAGED_FIELDS",
    "STAGING",
    "UNTOUCHED",
    "_chunks",
    "_counts",
    "_delete_file",
    "_finish_validation",
    "_result_values",
    "_revalidate",
    "apply_batch",
    "apply_value_answers",
    "as_released",
    "batch_scope",
    "check_size",
    "check_stored_bytes",
    "claim_for_applying",
    "claim_for_staging",
    "create_batch",
    "discard_batch",
    "exclude_duplicates",
    "exclude_rows",
    "forget_task_error",
    "forget_value_check",
    "hold_upload",
    "include_rows",
    "is_stalled",
    "lock_batch",
    "not_ready",
    "not_ready_message",
    "prepare_values",
    "purge_abandoned",
    "record_task_failure",
    "record_task_id",
    "release_if_stalled",
    "release_stalled",
    "remember_column_choices",
    "remember_value_choices",
    "replace_cells",
    "rollback_batch",
    "rollback_conflict",
    "save_cell_edits",
    "save_fields",
    "save_fixes",
    "stage_held_upload",
    "stage_upload",
    "validate_batch",
]
