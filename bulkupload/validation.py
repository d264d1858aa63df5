"""Row validation, matching against existing records, and the rules over the whole file.

Nothing here writes; :mod:`bulkupload.services` stores what these functions find.
The spec's lookups are loaded once per upload and existing records once per
chunk, so the number of queries never grows with the row count.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext as _

from . import conf
from .compiled import compile_form
from .fields import SpreadsheetDateField
from .spec import UPDATE, FileRule, StagedRow, UploadSpec

_PLAIN = (str, int, float, bool, type(None))


def encode_values(values: dict[str, Any]) -> dict[str, Any]:
    """Model values as JSON-safe data (dates and decimals as text), exactly as ``DjangoJSONEncoder`` writes them."""
    return {name: _encode(value) for name, value in values.items()}


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is datetime.date:
        return value.isoformat()
    if kind is decimal.Decimal:
        return str(value)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def decode_values(model: type[models.Model], data: dict[str, Any]) -> dict[str, Any]:
    """JSON data back to model values, each through its field's ``to_python``."""
    parsers = _parsers(model)
    return {name: parsers[name](value) if name in parsers else model._meta.get_field(name).to_python(value) for name, value in data.items()}


@lru_cache(maxsize=64)
def _parsers(model: type[models.Model]) -> dict[str, Any]:
    parsers = {}
    for model_field in model._meta.concrete_fields:
        parsers[model_field.name] = parsers[model_field.attname] = _parser(model_field)
    return parsers


#: Django's own fields whose ``to_python`` hands back a value of these types as it is.
_KEPT = {
    **dict.fromkeys((models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField), (str, type(None))),
    **dict.fromkeys((models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField), (int,)),
    **dict.fromkeys((models.PositiveSmallIntegerField, models.PositiveBigIntegerField, models.AutoField, models.BigAutoField), (int,)),
    models.BooleanField: (bool,),
}
#: Distinct texts remembered per date or decimal field: a file's days and amounts repeat, row after row.
PARSED_MAX = 4096


def _parser(model_field: models.Field) -> Any:
    """``model_field.to_python``, skipped where it would hand the value back, and remembered for a date's or a decimal's text."""
    to_python = model_field.to_python
    target = model_field.target_field if type(model_field) is models.ForeignKey else model_field
    if (kept := _KEPT.get(type(target))) is not None:
        return lambda value: value if type(value) in kept else to_python(value)
    if type(target) not in (models.DateField, models.DecimalField):
        return to_python
    parsed: dict[str, Any] = {}

    def remembered(value: Any) -> Any:
        if type(value) is not str:
            return to_python(value)
        if (known := parsed.get(value)) is None:
            if len(parsed) >= PARSED_MAX:
                parsed.clear()
            known = parsed[value] = to_python(value)  # a date or a Decimal: immutable, so rows may share it
        return known

    return remembered


class SharedValues:
    """One object for each distinct value of a file: rules may keep every row, and most cells repeat (emails, dates, codes)."""

    def __init__(self) -> None:
        # Texts and dates by themselves (a date never equals a text); Decimals by their text: 7.5 and 7.50 are equal
        # Decimals but not the same cell. At most SHARED_VALUES_MAX of them: a column of a million different notes
        # would otherwise be kept whole; past it, values seen before are still shared and new ones pass as they are.
        self._seen: dict[Any, Any] = {}
        self._room = conf.get("SHARED_VALUES_MAX")

    def __call__(self, values: dict[str, Any]) -> dict[str, Any]:
        seen = self._seen
        if len(seen) >= self._room:
            return {key: self._kept(value) for key, value in values.items()}
        shared = {}
        for key, value in values.items():
            kind = type(value)
            if kind is str or kind is datetime.date:
                value = seen.setdefault(value, value)
            elif kind is decimal.Decimal:
                value = seen.setdefault((kind, str(value)), value)
            shared[seen.setdefault(key, key)] = value
        return shared

    def _kept(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is datetime.date:
            return self._seen.get(value, value)
        if kind is decimal.Decimal:
            return self._seen.get((kind, str(value)), value)
        return value


def key_text(key: tuple) -> str:
    """The natural key as JSON text, exactly as ``DjangoJSONEncoder`` writes it (each part encoded as in :func:`encode_values`)."""
    return json.dumps([_encode(part) for part in key])[:255]


@dataclass
class RowResult:
    """What row validation and matching made of one row."""

    values: dict[str, Any] | None
    errors: dict[str, list[str]]
    match: str = "invalid"
    target: models.Model | None = None
    changes: dict[str, str] = field(default_factory=dict)


class RowValidator:
    """Runs the spec's row form over rows, with the spec's lookups loaded once.

    One form instance serves every row: building a Django form deep-copies its
    fields, which costs four times as much as cleaning a row. Each row is bound
    to the form and cleaned with the form's own ``full_clean()``, so the fields,
    their validators and the ``clean_<field>()`` and ``clean()`` hooks run exactly
    as for a fresh form. A row form must therefore keep no state of its own
    between rows beyond what ``full_clean()`` resets. The form's field loop is
    compiled once per upload (:mod:`bulkupload.compiled`): the same values and
    messages at a fraction of the cost.
    """

    def __init__(self, spec: UploadSpec, scope: Any, *, date_orders: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.scope = scope
        self.context = spec.get_row_context(scope)
        self.form = spec.get_form(self.context, data={})
        # The upload reads each date column's text dates one way (day-first or month-first), decided once per column.
        for key, order in (date_orders or {}).items():
            if isinstance(self.form.fields.get(key), SpreadsheetDateField):
                self.form.fields[key].order = order
        #: Whether the form's field loop was compiled (:mod:`bulkupload.compiled`); else every row takes the full form path.
        self.compiled = compile_form(self.form)
        self.write_fields = spec.write_fields()
        #: Related records of matched records, by field and primary key, loaded once per upload rather than joined per row.
        self.related: dict[str, dict[Any, models.Model]] = {}

    def clean(self, raw: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        """One row's model values, or None and its messages by column key."""
        form = self.form
        form.data = raw
        form.__dict__.pop("changed_data", None)
        form.full_clean()
        if not form.errors:
            return self.spec.to_model_values(form.cleaned_data, self.scope), {}
        return None, {name: [str(m) for m in messages] for name, messages in form.errors.items()}

    def validate_chunk(self, raws: list[dict[str, str]]) -> list[RowResult]:
        """Validate a chunk of rows and match the valid ones with existing records (one query)."""
        results = [RowResult(*self.clean(raw)) for raw in raws]
        keys = [self.spec.key_of(r.values) for r in results if r.values is not None]
        existing = find_existing(self.spec, self.scope, keys, related=self.related)
        for result in results:
            if result.values is None:
                continue
            target = existing.get(self.spec.key_of(result.values))
            result.target = target
            if target is None and self.spec.import_mode == UPDATE:
                result.values, result.errors = None, {NON_FIELD_ERRORS: [_("No existing record with this key.")]}
                continue
            if target is None:
                result.match = "new"
                continue
            changed = changed_fields(self.spec, target, result.values, self.write_fields)
            result.match = "update" if changed else "unchanged"
            if changed:
                old_cells = self.spec.to_row_values(target)
                result.changes = {c.key: old_cells.get(c.key, "") for c in self.spec.columns if c.field in changed}
        return results


def find_existing(
    spec: UploadSpec, scope: Any, keys: Iterable[tuple], *, related: bool | dict[str, dict[Any, models.Model]] = True
) -> dict[tuple, models.Model]:
    """Existing records for ``keys`` in one query: natural key → record.

    ``related`` loads the spec's ``existing_related()`` too, for showing old values.
    A dict there is a cache kept across chunks: a foreign key's records are loaded
    once per upload (one more query only for ids not seen yet) and shared by every
    row, rather than joined and built again for each row.
    """
    wanted = set(keys)
    if not wanted or not spec.matches_records:
        return {}  # "create": no row is matched with a record
    key_fields = spec.key_fields
    filters = {f"{name}__in": {key[i] for key in wanted} for i, name in enumerate(key_fields)}
    # No ordering: a model's default ordering may join and sort, and the result is a dict.
    queryset = spec.get_queryset(scope).filter(**filters).order_by()
    names = spec.existing_related() if related is not False else ()
    cache = related if isinstance(related, dict) else None
    foreign_keys = _foreign_keys(queryset.model, names) if cache is not None else None
    if names and foreign_keys is None:
        queryset = queryset.select_related(*names)
    found = {}
    model, query = queryset.model, queryset.query
    attnames = [f.attname for f in model._meta.concrete_fields]
    positions = [attnames.index(name) if name in attnames else -1 for name in key_fields]
    plain = -1 not in positions and not query.annotations and not query.select_related and query.deferred_loading == (frozenset(), True)
    if plain:
        # The column lists match more records than the keys (other rows' employees on this chunk's days):
        # build instances only for the records that are wanted.
        for values in queryset.values_list(*attnames):
            key = tuple(values[i] for i in positions)
            if key in wanted:
                found[key] = model.from_db(queryset.db, attnames, values)
    else:
        for record in queryset:
            key = tuple(getattr(record, name) for name in key_fields)
            if key in wanted:
                found[key] = record
    if names and foreign_keys is not None:
        _attach_related(list(found.values()), foreign_keys, cache)
    return found


def _foreign_keys(model: type[models.Model], names: tuple[str, ...]) -> list[models.ForeignKey] | None:
    """The model's own foreign keys named ``names``; None when one is a path or not a foreign key (then: ``select_related``)."""
    found = []
    for name in names:
        try:
            fk = model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if not (fk.many_to_one or fk.one_to_one) or not fk.concrete:
            return None
        found.append(fk)
    return found


def _attach_related(records: list[models.Model], foreign_keys: list[models.ForeignKey], cache: dict[str, dict[Any, models.Model]]) -> None:
    for fk in foreign_keys:
        known = cache.setdefault(fk.name, {})
        target = fk.target_field.attname
        missing = {getattr(record, fk.attname) for record in records} - known.keys() - {None}
        if missing:
            known.update({getattr(obj, target): obj for obj in fk.related_model._base_manager.filter(**{f"{target}__in": missing})})
        for record in records:
            value = getattr(record, fk.attname)
            if value is not None and value in known:
                fk.set_cached_value(record, known[value])


def changed_fields(spec: UploadSpec, record: models.Model, values: dict[str, Any], write_fields: list[str] | None = None) -> list[str]:
    """The written attributes whose value in ``values`` differs from ``record``'s."""
    names = spec.write_fields() if write_fields is None else write_fields
    return [name for name in names if name in values and getattr(record, name) != values[name]]


class DuplicateKeyRule(FileRule):
    """The same natural key twice in one file makes both rows invalid.

    Each message names at most ``DUPLICATE_ROWS_NAMED`` other rows: a key repeated on
    n rows costs n short messages, not n messages of n numbers each.
    """

    def check_groups(self, groups: dict[str, list[tuple[int, int]]]) -> Iterator[tuple[int, str, str]]:
        named = conf.get("DUPLICATE_ROWS_NAMED")
        for rows in groups.values():
            numbers = sorted(n for _id, n in rows)
            for row_id, row_number in rows:
                others = [n for n in numbers[: named + 1] if n != row_number][:named]
                more = len(numbers) - 1 - len(others)
                listed = ", ".join(str(n) for n in others)
                if more:
                    message = _("Duplicate of rows %(rows)s and %(more)d more (same key).") % {"rows": listed, "more": more}
                else:
                    message = _("Duplicate of row %(rows)s (same key).") % {"rows": listed}
                yield row_id, NON_FIELD_ERRORS, message


class FedRules:
    """The runs of the spec's file rules that take rows one by one (:meth:`FileRule.start`), fed as a file is staged."""

    def __init__(self, spec: UploadSpec, scope: Any) -> None:
        self.runs = {index: run for index, rule in enumerate(spec.file_rules) if (run := rule.start(spec=spec, scope=scope)) is not None}

    def add(self, row_id: int, row_number: int, values: dict[str, Any], raw: dict[str, str]) -> None:
        # The values as validation made them, not passed through SharedValues as rows read back are: validation's memo
        # already gives equal cells one value object each (compiled.py), and sharing them again cost about a tenth of staging's time.
        if self.runs:
            row = StagedRow(row_id, row_number, values, raw)
            for run in self.runs.values():
                run.add(row)


def run_file_rules(spec: UploadSpec, scope: Any, rows_factory, *, fed: FedRules | None = None) -> Iterator[tuple[int, str, str]]:
    """Each of the spec's file rules: what a run ``fed`` while staging found, or its check over a fresh stream of the valid rows."""
    runs = fed.runs if fed is not None else {}
    for index, rule in enumerate(spec.file_rules):
        if index in runs:
            yield from runs[index].findings()
            continue
        rows: Iterable[StagedRow] = rows_factory()
        yield from rule.check(rows, spec=spec, scope=scope)
