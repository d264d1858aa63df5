"""The wizard's values step over the API: the questions an upload's file raises, and the client's answers.

The questions (unmatched values of choice, lookup and boolean columns, with counts and
suggestions; date columns that read both ways, with examples) and the answers are
:mod:`bulkupload.values`' own: prepared once after staging, applied set-based, remembered
per user and spec, and applied on the user's next upload, as in the wizard.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from .. import conf, fields, services, values
from ..exceptions import FileRejected
from ..models import UploadBatch
from ..spec import UploadSpec

#: How a date column's text dates are read, in the API's words (``UploadBatch.date_orders``' values).
DATE_ORDERS = (fields.DAY_FIRST, fields.MONTH_FIRST)


class AnswerRefused(FileRejected):
    """An answer that does not fit the upload's questions; ``code`` says how, ``column`` where."""

    def __init__(self, message: str, *, code: str, column: str) -> None:
        super().__init__(message, column=column)
        self.code = code


def prepared(batch: UploadBatch, user: Any) -> UploadBatch:
    """``batch``, its date columns read one way each and the user's remembered mappings applied (for a POST).

    Staging does this; an upload staged before it did is prepared by its next POST (a GET shows no questions yet).
    """
    if batch.is_staged and not (batch.value_check or {}).get("ready"):
        values.prepare(batch, user)
        batch.refresh_from_db()
    return batch


def unanswered_dates(batch: UploadBatch) -> list[str]:
    """Keys of the date columns whose order the file cannot tell and nobody answered yet."""
    check = batch.value_check or {}
    return [] if check.get("done") else list(check.get("asked") or {})


def questions(batch: UploadBatch, spec: UploadSpec, user: Any) -> dict[str, Any]:
    """What the upload asks before its preview: empty lists until its file is read (call :func:`prepared` first)."""
    check = batch.value_check or {}
    found: dict[str, Any] = {"pending": False, "answered": bool(check.get("done")), "remembered": check.get("automatic") or {}}
    if not batch.is_staged or not check.get("ready"):
        return {**found, "dates": [], "values": []}
    listed: list[dict[str, Any]] = []
    if batch.invalid_count or check.get("applied"):  # otherwise no value is unmatched, and none was mapped: no query
        _spec, scope = services.batch_scope(batch)
        listed = [_column_data(entry) for entry in values.unmatched_values(batch, spec, scope, user)]
    return {
        **found,
        "pending": bool(check.get("step")) and not check.get("done"),
        "dates": [_date_data(question) for question in values.date_questions(batch, spec)],
        "values": listed,
    }


def _date_data(question: values.DateQuestion) -> dict[str, Any]:
    return {
        "column": question.column.key,
        "label": str(question.column.label),
        "order": question.order,
        "examples": [{"text": text, fields.DAY_FIRST: day, fields.MONTH_FIRST: month} for text, day, month in question.examples],
    }


def _column_data(entry: values.ColumnValues) -> dict[str, Any]:
    shown = conf.get("LOOKUP_DROPDOWN_MAX_VALUES")
    return {
        "column": entry.column.key,
        "label": str(entry.column.label),
        "values": [
            {"text": value.text, "count": value.count, "suggestions": value.suggestions, "chosen": value.chosen or None}
            for value in entry.values
        ],
        "more": entry.more,
        "allowed": [{"value": value, "label": label} for value, label in entry.allowed[:shown]],
        "allowed_more": max(0, len(entry.allowed) - shown),
    }


def answer(batch: UploadBatch, spec: UploadSpec, user: Any, *, dates: dict[str, str], mappings: dict[str, dict[str, str | None]]) -> None:
    """Apply the client's answers as the values step does, and remember the mappings for the user's next upload.

    ``dates``: column key → ``"dmy"`` or ``"mdy"``; ``mappings``: column key → {text in the file → allowed value,
    or None to leave it invalid}. Raises :class:`AnswerRefused` for a column, text or value the upload does not offer.
    """
    asked = (batch.value_check or {}).get("asked") or {}
    for key in dates:
        if key not in asked:
            raise AnswerRefused(
                _("The dates in “%(column)s” need no answer; the columns asked about are %(asked)s.")
                % {"column": key, "asked": _quote(list(asked)) or "—"},
                code="unknown_date_column",
                column=key,
            )
    _spec, scope = services.batch_scope(batch)
    offered = {entry.column.key: entry for entry in values.unmatched_values(batch, spec, scope, user)}
    changes: dict[str, dict[str, str]] = {}
    for key, chosen in mappings.items():
        for text, target in chosen.items():
            current = _offered_value(offered, key, text)
            allowed = [value for value, _label in offered[key].allowed]
            if target and target not in allowed:
                raise AnswerRefused(
                    _("“%(value)s” is not allowed in “%(column)s”.") % {"value": target, "column": key},
                    code="not_allowed",
                    column=key,
                )
            if (target or "") != current.chosen:
                changes.setdefault(key, {})[text] = target or ""
    values.apply_values(batch, mappings=changes, date_orders={**batch.date_orders, **dates}, check={"done": True})
    if changes and user is not None:
        values.remember_values(user, spec, changes)


def _offered_value(offered: dict[str, values.ColumnValues], key: str, text: str) -> values.DistinctValue:
    """The listed value ``text`` of column ``key``; :class:`AnswerRefused` when the upload does not ask about it."""
    if key not in offered:
        raise AnswerRefused(
            _("“%(column)s” has no values to map; the columns with values to map are %(columns)s.")
            % {"column": key, "columns": _quote(list(offered)) or "—"},
            code="unknown_column",
            column=key,
        )
    found = next((value for value in offered[key].values if value.text == text), None)
    if found is None:
        raise AnswerRefused(
            _("“%(value)s” is not among the values of “%(column)s” to map.") % {"value": text, "column": key},
            code="unknown_value",
            column=key,
        )
    return found


def _quote(names: list[str]) -> str:
    return ", ".join(f"“{name}”" for name in names)
