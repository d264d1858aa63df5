"""Turn a cell's value, whatever its type, into the text a person would see in it.

Some cells hold no usable value: an Excel error (``#N/A``), a formula whose
result was never saved, a row with more fields than the header. The reader
keeps their text and marks them (:class:`ProblemCell`, :class:`RowCells`);
staging records the marks with the row (:func:`record_problems`) and validation
shows them at their cell for as long as the user has not changed that cell
(:func:`current_problems`).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext as _

# Spaces a copy from a web page or a PDF brings along.
INVISIBLE = "\u00a0\u200b\u200c\u200d\u2060\ufeff"
#: What Excel shows in a cell whose formula failed.
EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!"}
)
#: Where staging keeps the reader's marks in a row's values.
PROBLEMS = "__problems__"


class ProblemCell(str):
    """A cell's text that is not a value; ``problem`` says why, for the user."""

    problem: str

    def __new__(cls, text: str, problem: str) -> ProblemCell:
        cell = super().__new__(cls, text)
        cell.problem = problem
        return cell


class RowCells(list):
    """A row's cell texts; ``problem`` says what is wrong with the row as a whole ("" when nothing)."""

    problem: str = ""


def error_cell(text: str) -> ProblemCell:
    return ProblemCell(
        text, _("The cell shows the Excel error %(error)s, not a value. Correct it in the file or type the value here.") % {"error": text}
    )


def formula_cell(formula: str) -> ProblemCell:
    return ProblemCell(
        formula,
        _(
            "The cell holds a formula whose result was never saved. "
            "Open the file in Excel, save it and upload it again, or type the value here."
        ),
    )


def cell_text(value: Any) -> str:
    """Cell text, stripped of surrounding (also non-breaking and zero-width) spaces."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        hours = value.total_seconds() / 3600
        return str(int(hours)) if hours.is_integer() else repr(round(hours, 6))
    text = str(value).strip(" \t\r\n" + INVISIBLE)
    if text in EXCEL_ERRORS:
        return error_cell(text)
    return text


def trim_trailing(cells: list[str]) -> list[str]:
    """Drop empty cells at the end of a row."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def record_problems(values: dict[str, str], cells: list[str]) -> dict[str, Any]:
    """``values`` (column key → text) with the reader's marks on ``cells`` kept under :data:`PROBLEMS`."""
    found: dict[str, list[str]] = {key: [str(text), text.problem] for key, text in values.items() if isinstance(text, ProblemCell)}
    if getattr(cells, "problem", ""):
        found[NON_FIELD_ERRORS] = [_snapshot(values), cells.problem]
    if not found:
        return values
    return {**{key: str(text) for key, text in values.items()}, PROBLEMS: found}


def current_problems(values: dict[str, Any]) -> dict[str, list[str]]:
    """The reader's marks that still stand (column key or ``NON_FIELD_ERRORS`` → messages); a changed cell is judged afresh."""
    standing: dict[str, list[str]] = {}
    for key, (text, message) in (values.get(PROBLEMS) or {}).items():
        current = _snapshot(values) if key == NON_FIELD_ERRORS else values.get(key)
        if current == text:
            standing[key] = [message]
    return standing


def _snapshot(values: dict[str, Any]) -> str:
    return json.dumps({k: str(v) for k, v in values.items() if k != PROBLEMS}, sort_keys=True)
