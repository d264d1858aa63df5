"""The wizard's "values" step: cell values that match nothing mapped to allowed ones, and text dates read one way.

Staging looks at the upload once (``services.prepare_values``): each date column is
read day-first or month-first for the whole column (asking the user only when the
file cannot tell), and values the user mapped before for this spec are applied again.
What the step asks is read by :mod:`bulkupload.valuecheck` (its names are here too);
the writes are services (:mod:`bulkupload.services.values`), set-based: one UPDATE per
mapped value over the staged rows, then the rows it touched revalidated in chunks.
"""

from __future__ import annotations

from typing import Any

from . import services
from .models import UploadBatch
from .spec import UploadSpec
from .valuecheck import (
    FUZZY_CUTOFF,
    FUZZY_MAX_NAMES,
    LOOKUP_FUZZY_CUTOFF,
    ColumnValues,
    DateQuestion,
    DistinctValue,
    _names,
    allowed_values,
    date_fields,
    date_questions,
    default_order,
    detect_date_orders,
    mappable_fields,
    normalise,
    remembered_values,
    suggest,
    unmatched_values,
)

__all__ = [
    "FUZZY_CUTOFF",
    "FUZZY_MAX_NAMES",
    "LOOKUP_FUZZY_CUTOFF",
    "ColumnValues",
    "DateQuestion",
    "DistinctValue",
    "_names",
    "allowed_values",
    "apply_values",
    "date_fields",
    "date_questions",
    "default_order",
    "detect_date_orders",
    "mappable_fields",
    "needs_step",
    "normalise",
    "pending",
    "prepare",
    "remember_values",
    "remembered_values",
    "reset",
    "suggest",
    "unmatched_values",
]


def prepare(batch: UploadBatch, user: Any) -> dict[str, Any]:
    """Look at a staged upload once (staging does it): read its date columns one way each, apply remembered mappings.

    Returns the batch's ``value_check``; ``step`` says whether the wizard shows the values step.
    """
    return services.prepare_values(batch=batch, user=user)


def reset(batch: UploadBatch) -> None:
    """Forget what was decided for the upload's previous file (its rows are about to be replaced)."""
    services.forget_value_check(batch=batch)


def needs_step(batch: UploadBatch, user: Any) -> bool:
    """Whether the wizard shows the values step for ``batch``: what staging decided, only read (a GET writes nothing).

    An upload staged before staging prepared it has no decision: it shows no values step.
    """
    if batch.status == UploadBatch.Status.DRAFT or not (batch.value_check or {}).get("ready"):
        batch.refresh_from_db(fields=["status", "value_check"])
    return bool(batch.is_staged and (batch.value_check or {}).get("step"))


def pending(batch: UploadBatch, user: Any) -> bool:
    """Whether the values step should be shown and was never answered (the user is sent there before the preview)."""
    return batch.is_staged and needs_step(batch, user) and not (batch.value_check or {}).get("done")


def apply_values(
    batch: UploadBatch,
    *,
    mappings: dict[str, dict[str, str]],
    date_orders: dict[str, str] | None = None,
    check: dict[str, Any] | None = None,
) -> UploadBatch:
    """Map values (column key → {text in the file → allowed value, "" to leave it invalid}) and set date orders.

    Written by :func:`bulkupload.services.apply_value_answers`: one UPDATE per mapped value over the staged
    rows, then only the rows touched (all rows when a date column is now read month-first) are revalidated, in
    chunks. The upload is locked and must be ready: :class:`~bulkupload.exceptions.BatchNotReady` otherwise.
    """
    return services.apply_value_answers(batch=batch, mappings=mappings, date_orders=date_orders, check=check)


# --- remembered mappings -----------------------------------------------------------------


def remember_values(user: Any, spec: UploadSpec, mappings: dict[str, dict[str, str]]) -> None:
    """Keep ``user``'s mappings for ``spec`` (a value left invalid forgets an earlier mapping of it)."""
    choices = remembered_values(user, spec)
    for key, chosen in mappings.items():
        column = dict(choices.get(key) or {})
        for text, target in chosen.items():
            if target:
                column[normalise(text)] = target
            else:
                column.pop(normalise(text), None)
        choices[key] = column
    services.remember_value_choices(user=user, spec=spec, choices=choices)
