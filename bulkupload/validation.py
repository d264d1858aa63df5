"""Row validation, matching against existing records, and the rules over the whole file.

Nothing here writes; :mod:`bulkupload.services` stores what these functions find.
The spec's lookups are loaded once per upload and existing records once per
chunk, so the number of queries never grows with the row count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext as _

from .spec import FileRule, StagedRow, UploadSpec

ROW = "__all__"


def encode_values(values: dict[str, Any]) -> dict[str, Any]:
    """Model values as JSON-safe data (dates and decimals as text)."""
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def decode_values(model: type[models.Model], data: dict[str, Any]) -> dict[str, Any]:
    """JSON data back to model values, each through its field's ``to_python``."""
    meta = model._meta
    return {name: meta.get_field(name).to_python(value) for name, value in data.items()}


def key_text(key: tuple) -> str:
    return json.dumps(list(key), cls=DjangoJSONEncoder)[:255]


@dataclass
class RowResult:
    """What row validation and matching made of one row."""

    values: dict[str, Any] | None
    errors: dict[str, list[str]]
    match: str = "invalid"
    target: models.Model | None = None
    changes: dict[str, str] = field(default_factory=dict)


class RowValidator:
    """Runs the spec's row form over rows, with the spec's lookups loaded once."""

    def __init__(self, spec: UploadSpec, scope: Any) -> None:
        self.spec = spec
        self.scope = scope
        self.context = spec.get_row_context(scope)

    def clean(self, raw: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        form = self.spec.get_form(self.context, data=raw)
        if form.is_valid():
            return self.spec.to_model_values(form.cleaned_data, self.scope), {}
        return None, {name: [str(m) for m in messages] for name, messages in form.errors.items()}

    def validate_chunk(self, raws: list[dict[str, str]]) -> list[RowResult]:
        """Validate a chunk of rows and match the valid ones with existing records (one query)."""
        results = [RowResult(*self.clean(raw)) for raw in raws]
        keys = [self.spec.key_of(r.values) for r in results if r.values is not None]
        existing = find_existing(self.spec, self.scope, keys)
        for result in results:
            if result.values is None:
                continue
            target = existing.get(self.spec.key_of(result.values))
            result.target = target
            if target is None:
                result.match = "new"
                continue
            changed = changed_fields(self.spec, target, result.values)
            result.match = "update" if changed else "unchanged"
            if changed:
                old_cells = self.spec.to_row_values(target)
                result.changes = {c.key: old_cells.get(c.key, "") for c in self.spec.columns if c.field in changed}
        return results


def find_existing(spec: UploadSpec, scope: Any, keys: Iterable[tuple]) -> dict[tuple, models.Model]:
    """Existing records for ``keys`` in one query: natural key → record."""
    wanted = set(keys)
    if not wanted:
        return {}
    filters = {f"{name}__in": {key[i] for key in wanted} for i, name in enumerate(spec.natural_key)}
    queryset = spec.get_queryset(scope).filter(**filters)
    if spec.existing_related():
        queryset = queryset.select_related(*spec.existing_related())
    found = {}
    for record in queryset:
        key = tuple(getattr(record, name) for name in spec.natural_key)
        if key in wanted:
            found[key] = record
    return found


def changed_fields(spec: UploadSpec, record: models.Model, values: dict[str, Any]) -> list[str]:
    return [name for name in spec.write_fields() if name in values and getattr(record, name) != values[name]]


class DuplicateKeyRule(FileRule):
    """The same natural key twice in one file makes both rows invalid."""

    def check_groups(self, groups: dict[str, list[tuple[int, int]]]) -> Iterator[tuple[int, str, str]]:
        for rows in groups.values():
            for row_id, row_number in rows:
                others = [str(n) for _id, n in rows if n != row_number]
                yield row_id, ROW, _("Duplicate of row %(rows)s (same key).") % {"rows": ", ".join(others)}


def run_file_rules(spec: UploadSpec, scope: Any, rows_factory) -> Iterator[tuple[int, str, str]]:
    """Each of the spec's file rules over a fresh stream of the valid rows."""
    for rule in spec.file_rules:
        rows: Iterable[StagedRow] = rows_factory()
        yield from rule.check(rows, spec=spec, scope=scope)
