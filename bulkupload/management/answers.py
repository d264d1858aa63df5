"""The command line's answers to the wizard's values step: ``--date-order`` and ``--map-value``.

They are applied through :mod:`bulkupload.values` exactly as the wizard applies the step
(remembered mappings of the user first, then the answers, set-based, then the touched rows
revalidated); what is still unanswered is returned for the command to report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import fields, services, values
from ..models import UploadBatch
from ..spec import Column, UploadSpec

#: ``--date-order`` words → the engine's orders.
DATE_ORDERS = {"day-first": fields.DAY_FIRST, "month-first": fields.MONTH_FIRST}
#: Unmatched values named per column when reporting them.
EXAMPLES_SHOWN = 2


class AnswerError(ValueError):
    """An answer that names no such column, order or allowed value (the message says which)."""


@dataclass
class Answers:
    """Date orders by column key (``None``: every date column the file cannot tell) and value mappings by column key."""

    date_orders: dict[str | None, str] = field(default_factory=dict)
    mappings: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Unanswered:
    """What still needs an answer after applying: ambiguous date columns and values that match nothing."""

    dates: list[values.DateQuestion]
    columns: list[values.ColumnValues]
    #: Values mapped from the user's earlier choices: column key → {text → allowed value}.
    automatic: dict[str, dict[str, str]]


def find_column(spec: UploadSpec, batch: UploadBatch, name: str) -> Column:
    """The column ``name`` says: its key, its label or the file's own header for it (case and accents do not matter)."""
    wanted = values.normalise(name)
    for column in spec.columns:
        if wanted in {values.normalise(text) for text in (column.key, column.label, batch.headers.get(column.key, ""))}:
            return column
    raise AnswerError(
        _("There is no column “%(name)s” (the columns are: %(columns)s).")
        % {"name": name, "columns": ", ".join(str(column.label) for column in spec.columns)}
    )


def parse_answers(spec: UploadSpec, batch: UploadBatch, date_orders: list[str], mappings: list[str]) -> Answers:
    """``[COLUMN=]day-first|month-first`` and ``COLUMN=FROM=TO`` options as :class:`Answers`."""
    answers = Answers()
    for option in date_orders:
        name, _sep, word = option.rpartition("=")
        if word not in DATE_ORDERS:
            raise AnswerError(_("--date-order “%(option)s”: say day-first or month-first.") % {"option": option})
        column = find_column(spec, batch, name) if name else None
        if column is not None and column.key not in values.date_fields(spec, services.batch_scope(batch)[1]):
            raise AnswerError(_("--date-order: “%(column)s” is not a date column.") % {"column": column.label})
        answers.date_orders[column.key if column else None] = DATE_ORDERS[word]
    for option in mappings:
        name, sep, rest = option.partition("=")
        text, sep2, target = rest.rpartition("=")
        if not (sep and sep2 and name and text):
            raise AnswerError(_("--map-value “%(option)s”: write it as COLUMN=VALUE IN THE FILE=ALLOWED VALUE.") % {"option": option})
        answers.mappings.setdefault(find_column(spec, batch, name).key, {})[text] = target
    return answers


def apply_answers(batch: UploadBatch, user: Any, answers: Answers) -> Unanswered:
    """Prepare the staged upload as the wizard does, apply ``answers`` to it, remember the mappings; what is left."""
    check = values.prepare(batch, user)
    spec, scope = services.batch_scope(batch)
    mappings = _checked_mappings(spec, scope, answers.mappings)
    asked = set(check.get("asked") or {})
    orders = dict(batch.date_orders)
    for key in asked:
        if None in answers.date_orders:
            orders[key] = answers.date_orders[None]
    orders.update({key: order for key, order in answers.date_orders.items() if key is not None})
    values.apply_values(batch, mappings=mappings, date_orders=orders, check={"done": True})
    if mappings:
        values.remember_values(user, spec, mappings)
    answered = {key for key in answers.date_orders if key is not None} | (asked if None in answers.date_orders else set())
    dates = [question for question in values.date_questions(batch, spec) if question.column.key not in answered]
    columns = []
    for entry in values.unmatched_values(batch, spec, scope, user):
        entry.values = [value for value in entry.values if not value.chosen]
        if entry.values:
            columns.append(entry)
    return Unanswered(dates, columns, dict(check.get("automatic") or {}))


def _checked_mappings(spec: UploadSpec, scope: Any, mappings: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``mappings`` with each target spelled as the allowed value it names; :class:`AnswerError` for any other."""
    mappable = values.mappable_fields(spec, scope)
    checked: dict[str, dict[str, str]] = {}
    for key, chosen in mappings.items():
        label = spec.column(key).label
        if key not in mappable:
            raise AnswerError(_("Values of “%(column)s” cannot be mapped: it is not a choice or lookup column.") % {"column": label})
        allowed = values.allowed_values(mappable[key])
        names = {values.normalise(text): value for value, shown in allowed for text in (value, shown)}
        for text, target in chosen.items():
            found = names.get(values.normalise(target))
            if target and found is None:
                shown = ", ".join(value for value, _label in allowed[:10]) + (" …" if len(allowed) > 10 else "")
                raise AnswerError(
                    _("--map-value: “%(target)s” is not an allowed value of “%(column)s” (%(allowed)s).")
                    % {"target": target, "column": label, "allowed": shown}
                )
            checked.setdefault(key, {})[text] = found or ""
    return checked


def describe(batch: UploadBatch, unanswered: Unanswered) -> list[str]:
    """One line per ambiguous date column and per column of unmatched values: which, two examples, how to answer."""
    lines = []
    for question in unanswered.dates:
        name = batch.headers.get(question.column.key) or str(question.column.label)
        examples = "; ".join(
            _("“%(text)s” is %(day_first)s day-first, %(month_first)s month-first")
            % {"text": text, "day_first": _shown(day_first), "month_first": _shown(month_first)}
            for text, day_first, month_first in question.examples[:EXAMPLES_SHOWN]
        )
        lines.append(
            _(
                "Column “%(column)s”: its dates can be read two ways (%(examples)s). "
                'Answer with --date-order "%(column)s=day-first" or --date-order "%(column)s=month-first".'
            )
            % {"column": name, "examples": examples}
        )
    for entry in unanswered.columns:
        name = batch.headers.get(entry.column.key) or str(entry.column.label)
        shown = [
            ngettext("“%(text)s” (%(count)d row%(suggestion)s)", "“%(text)s” (%(count)d rows%(suggestion)s)", value.count)
            % {
                "text": value.text,
                "count": value.count,
                "suggestion": _(", maybe %(value)s") % {"value": value.suggestions[0]} if value.suggestions else "",
            }
            for value in entry.values[:EXAMPLES_SHOWN]
        ]
        more = len(entry.values) - EXAMPLES_SHOWN + entry.more
        first = entry.values[0]
        target = first.suggestions[0] if first.suggestions else _("ALLOWED VALUE")
        lines.append(
            ngettext(
                "Column “%(column)s”: %(values)s matches no allowed value%(more)s. "
                'Map it with --map-value "%(column)s=%(text)s=%(target)s".',
                "Column “%(column)s”: %(values)s match no allowed value%(more)s. "
                'Map each with --map-value "%(column)s=%(text)s=%(target)s".',
                len(entry.values) + entry.more,
            )
            % {
                "column": name,
                "values": ", ".join(shown),
                "more": _(" (and %(count)d more)") % {"count": more} if more > 0 else "",
                "text": first.text,
                "target": target,
            }
        )
    return lines


def describe_automatic(batch: UploadBatch, spec: UploadSpec, unanswered: Unanswered) -> list[str]:
    """One line per value mapped from the user's earlier choices (the wizard shows them on its values step)."""
    return [
        _('“%(text)s” in “%(column)s” was read as %(target)s, as you chose before (--map-value "%(column)s=%(text)s=" leaves it invalid).')
        % {"text": text, "column": batch.headers.get(key) or str(spec.column(key).label), "target": target}
        for key, chosen in unanswered.automatic.items()
        for text, target in chosen.items()
    ]


def _shown(day: Any) -> str:
    return formats.date_format(day, "DATE_FORMAT") if day is not None else _("not a date")
