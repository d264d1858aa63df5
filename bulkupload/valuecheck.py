"""What the values step asks and maps, read from a staged upload (no writes: :mod:`bulkupload.services.values` writes).

Each date column is read day-first or month-first for the whole column (asking the
user only when the file cannot tell); cell values that match nothing allowed are
listed with suggestions, the user's remembered mappings first. :func:`decide` is
what staging applies once (``services.prepare_values``); :mod:`bulkupload.values`
is the module callers use.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import formats, translation

from . import conf, fields
from .models import RememberedValues, UploadBatch
from .spec import Column, UploadSpec

FUZZY_CUTOFF = 0.6
#: For lookups (emails, codes) only near-identical spellings: "nobody@acme.example" is not "ada@acme.example".
LOOKUP_FUZZY_CUTOFF = 0.85
#: Fuzzy matching is skipped for lookups with more names than this (each distinct value is compared with every name).
FUZZY_MAX_NAMES = 2000


@dataclass
class DistinctValue:
    """One text of a column that matches no allowed value, how many rows have it, and what it may stand for."""

    text: str
    count: int
    suggestions: list[str] = field(default_factory=list)
    #: The value it is mapped to now ("" while it is left invalid).
    chosen: str = ""


@dataclass
class ColumnValues:
    """A choice, lookup or boolean column's unmatched values and the values it allows."""

    column: Column
    allowed: list[tuple[str, str]]
    values: list[DistinctValue]
    #: Distinct unmatched values beyond ``VALUE_MAPPING_MAX_VALUES``, not listed.
    more: int = 0


@dataclass
class DateQuestion:
    """A date column whose text dates read both ways: two examples, each read day-first and month-first."""

    column: Column
    examples: list[tuple[str, Any, Any]]
    order: str


def normalise(text: Any) -> str:
    """Text as values are compared: case, accents, spaces and punctuation do not matter."""
    decomposed = unicodedata.normalize("NFKD", str(text or "")).casefold()
    return re.sub(r"[\W_]+", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


def mappable_fields(spec: UploadSpec, scope: Any) -> dict[str, Any]:
    """Column key → the row form's field, for choice, lookup and boolean columns (lookup tables bound)."""
    form = spec.get_form(spec.get_row_context(scope), data={})
    kinds = (fields.LenientChoiceField, fields.LookupField, fields.SpreadsheetBooleanField)
    return {c.key: form.fields[c.key] for c in spec.columns if isinstance(form.fields.get(c.key), kinds)}


def date_fields(spec: UploadSpec, scope: Any) -> list[str]:
    """Keys of the columns read as dates."""
    form = spec.get_form(spec.get_row_context(scope), data={})
    return [c.key for c in spec.columns if isinstance(form.fields.get(c.key), fields.SpreadsheetDateField)]


def allowed_values(form_field: Any) -> list[tuple[str, str]]:
    """``(text written into the cell, label shown)`` for each value a mappable field accepts."""
    if isinstance(form_field, fields.SpreadsheetBooleanField):
        return [("yes", str(translation.gettext("yes"))), ("no", str(translation.gettext("no")))]
    if isinstance(form_field, fields.LookupField):
        return [(text, text) for text in form_field.table.values()]
    return [(str(value), str(label)) for value, label in form_field.pairs]


def _names(allowed: list[tuple[str, str]]) -> dict[str, str]:
    """Normalised name → allowed value: values and labels as written and in every configured language."""
    names: dict[str, str] = {}
    codes = [None, *(code for code, _name in settings.LANGUAGES)]
    for value, label in allowed:
        for text in (value, label):
            names.setdefault(normalise(text), value)
            if len(allowed) <= FUZZY_MAX_NAMES:
                for code in codes:
                    with translation.override(code):
                        names.setdefault(normalise(translation.gettext(text)), value)
    names.pop("", None)
    return names


def suggest(text: str, names: dict[str, str], remembered: str = "", *, cutoff: float = FUZZY_CUTOFF) -> list[str]:
    """Allowed values ``text`` may stand for, best first: remembered, same when normalised, then similar spelling."""
    found = [remembered] if remembered else []
    key = normalise(text)
    if key in names:
        found.append(names[key])
    if key and len(names) <= FUZZY_MAX_NAMES:
        found += [names[close] for close in difflib.get_close_matches(key, list(names), n=5, cutoff=cutoff)]
    return list(dict.fromkeys(found))[:3]


def unmatched_values(batch: UploadBatch, spec: UploadSpec, scope: Any, user: Any = None) -> list[ColumnValues]:
    """Each mappable column with its unmatched values (and those mapped already), most frequent first."""
    remembered = remembered_values(user, spec) if user is not None else {}
    applied = (batch.value_check or {}).get("applied") or {}
    limit = conf.get("VALUE_MAPPING_MAX_VALUES")
    result = []
    for key, form_field in mappable_fields(spec, scope).items():
        counts: dict[str, int] = {}
        # One grouped query per column: the invalid rows' texts, and the texts a mapping replaced.
        for text, count in batch.rows.filter(errors__has_key=key).values_list(KT(f"values__{key}")).annotate(n=Count("pk")):
            if text and not _accepted(form_field, text):
                counts[text] = counts.get(text, 0) + count
        for text, count in batch.rows.filter(originals__has_key=key).values_list(KT(f"originals__{key}")).annotate(n=Count("pk")):
            if text:
                counts[text] = counts.get(text, 0) + count
        if not counts:
            continue
        allowed = allowed_values(form_field)
        names = _names(allowed)
        cutoff = LOOKUP_FUZZY_CUTOFF if isinstance(form_field, fields.LookupField) else FUZZY_CUTOFF
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        values = [
            DistinctValue(
                text,
                count,
                suggest(text, names, (remembered.get(key) or {}).get(normalise(text), ""), cutoff=cutoff),
                (applied.get(key) or {}).get(text, ""),
            )
            for text, count in ordered[:limit]
        ]
        result.append(ColumnValues(spec.column(key), allowed, values, more=max(0, len(ordered) - limit)))
    return result


def _accepted(form_field: Any, text: str) -> bool:
    try:
        form_field.clean(text)
    except Exception:
        return False
    return True


# --- dates -------------------------------------------------------------------------------


def default_order() -> str:
    """The active locale's way of writing dates: month-first for en-US, day-first for en-GB and de."""
    short = formats.get_format("SHORT_DATE_FORMAT")
    return fields.MONTH_FIRST if short.find("m") < short.find("d") else fields.DAY_FIRST


def detect_date_orders(batch: UploadBatch, spec: UploadSpec, scope: Any) -> dict[str, tuple[str | None, list[str]]]:
    """Date column key → (its order, or None when the file cannot tell; up to two texts that read both ways).

    Columns without numeric text dates (ISO text, date cells, serial numbers) are left out.
    """
    found = {}
    for key in date_fields(spec, scope):
        only: dict[str, str] = {}  # order → a text that reads only that way
        ambiguous: list[str] = []
        texts = batch.rows.values_list(KT(f"values__{key}"), flat=True).distinct()
        for text in texts.iterator(chunk_size=2000):
            orders = fields.date_orders_of(text or "")
            if len(orders) == 1:
                only.setdefault(next(iter(orders)), text)
            elif len(orders) == 2 and len(ambiguous) < 2:
                ambiguous.append(text)
            if len(only) == 2 and len(ambiguous) == 2:
                break
        if len(only) == 1:
            found[key] = (next(iter(only)), [])
        elif ambiguous or only:
            # Nothing tells, or both kinds occur (a mixed file): ask, showing texts that read both ways (or one of each kind).
            found[key] = (None, sorted(ambiguous) or sorted(only.values()))
    return found


def date_questions(batch: UploadBatch, spec: UploadSpec) -> list[DateQuestion]:
    """The date columns the user is asked about, with their examples read both ways."""
    check = batch.value_check or {}
    questions = []
    for key, examples in (check.get("asked") or {}).items():
        read = [
            (text, fields.read_numeric_date(text, fields.DAY_FIRST), fields.read_numeric_date(text, fields.MONTH_FIRST))
            for text in examples
        ]
        questions.append(DateQuestion(spec.column(key), read, (check.get("dates") or {}).get(key) or default_order()))
    return questions


# --- what staging decides once ------------------------------------------------------------


def decide(batch: UploadBatch, spec: UploadSpec, scope: Any, user: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """For a freshly staged upload: each date column's order, and the ``value_check`` to keep.

    ``check["automatic"]`` holds the values ``user`` mapped before (applied again);
    ``check["step"]`` says whether the wizard shows the values step.
    """
    detected = detect_date_orders(batch, spec, scope)
    orders = {key: order or default_order() for key, (order, _examples) in detected.items()}
    asked = {key: examples for key, (order, examples) in detected.items() if order is None}
    columns = unmatched_values(batch, spec, scope, user)
    remembered = remembered_values(user, spec)
    automatic: dict[str, dict[str, str]] = {}
    for entry in columns:
        allowed = {value for value, _label in entry.allowed}
        for value in entry.values:
            target = (remembered.get(entry.column.key) or {}).get(normalise(value.text))
            if target in allowed:
                automatic.setdefault(entry.column.key, {})[value.text] = target
    # Shown when it can help: a date column to ask about, a value mapped automatically, or one with a suggestion.
    # Values with nothing to suggest (an unknown email) are listed on the step when it shows, else fixed in the preview.
    helpful = any(value.suggestions for entry in columns for value in entry.values)
    return orders, {"ready": True, "step": bool(asked or automatic or helpful), "asked": asked, "automatic": automatic}


# --- remembered mappings -----------------------------------------------------------------


def remembered_values(user: Any, spec: UploadSpec) -> dict[str, dict[str, str]]:
    """What ``user`` mapped before for ``spec``: column key → {normalised text → allowed value}."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    found = RememberedValues.objects.filter(owner=user, spec=spec.slug).values_list("choices", flat=True).first()
    return dict(found or {})
