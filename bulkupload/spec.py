"""Declaring what can be uploaded: :class:`UploadSpec`, :class:`Column` and the registry.

A host app declares a spec in ``<app>/uploads.py``::

    from bulkupload import spec

    @spec.register
    class EntrySpec(spec.UploadSpec):
        slug = "timesheet-entries"
        model = Entry
        form_class = EntryRowForm
        columns = [spec.Column("employee_email", "Employee email", required=True), ...]
        natural_key = ("employee_id", "date", "project_id")

        def get_scope(self, user): ...
        def get_queryset(self, scope): ...
        def to_model_values(self, cleaned_data, scope): ...

The engine autodiscovers ``uploads`` modules the way the admin finds ``admin.py``.
"""

from __future__ import annotations

import datetime
import decimal
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django import forms
from django.db import models
from django.http import Http404

_registry: dict[str, UploadSpec] = {}


@dataclass(frozen=True)
class Column:
    """One column of the spreadsheet, matched to a field of the spec's row form.

    ``key`` is the row form's field name; ``label`` the template's header; the
    file's headers match ``label``, ``key`` or any alias regardless of case,
    surrounding spaces and underscores. ``field`` names the model attribute the
    column lands in, so the preview can show old → new values.
    """

    key: str
    label: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    field: str | None = None
    help_text: str = ""
    format: str = ""
    choices: tuple[str, ...] = ()
    example: str = ""
    width: int = 18


@dataclass
class StagedRow:
    """A valid staged row as file rules see it: its id, number and model values."""

    id: int
    row_number: int
    values: dict[str, Any]
    raw: dict[str, str] = field(default_factory=dict)


class FileRule:
    """A rule over the whole file: yields ``(row_id, column_key, message)`` for bad rows.

    Rules see only rows that passed row validation, streamed in file order.
    """

    def check(self, rows: Iterable[StagedRow], *, spec: UploadSpec, scope: Any) -> Iterator[tuple[int, str, str]]:
        raise NotImplementedError


class UploadSpec:
    """The declaration of one kind of upload. Subclass it and :func:`register` it."""

    slug: ClassVar[str]
    title: ClassVar[str] = ""
    model: ClassVar[type[models.Model]]
    form_class: ClassVar[type[forms.Form]]
    columns: ClassVar[Sequence[Column]] = ()
    #: Model attributes that identify an existing record within the scope.
    natural_key: ClassVar[tuple[str, ...]] = ()
    #: A foreign key on the model to ``bulkupload.UploadBatch`` set on every write.
    batch_field: ClassVar[str | None] = None
    file_rules: ClassVar[Sequence[FileRule]] = ()
    sheet_title: ClassVar[str] = "Data"
    #: The Django permissions a user needs to upload (besides having a scope).
    permissions: ClassVar[tuple[str, ...]] = ()

    # --- hooks a host implements -------------------------------------------------

    def get_scope(self, user: Any) -> Any | None:
        """What part of the data ``user`` may upload into (a tenant, say); None for nothing."""
        return user

    def scope_key(self, scope: Any) -> str:
        """A short text that identifies the scope, stored on the batch."""
        return str(getattr(scope, "pk", scope))

    def get_queryset(self, scope: Any) -> models.QuerySet:
        """Existing records the upload may match and update."""
        return self.model._default_manager.all()

    def get_row_context(self, scope: Any) -> dict[str, Any]:
        """Lookups the row form needs, loaded once per upload (never a query per row)."""
        return {}

    def to_model_values(self, cleaned_data: dict[str, Any], scope: Any) -> dict[str, Any]:
        """Model attribute values for one valid row."""
        return dict(cleaned_data)

    def scope_values(self, scope: Any) -> dict[str, Any]:
        """Attributes every created record gets from the scope (its tenant, say)."""
        return {}

    def to_row_values(self, instance: models.Model) -> dict[str, str]:
        """An existing record as template cells, keyed by column key (for preview and export)."""
        values = {}
        for column in self.columns:
            if column.field:
                values[column.key] = format_cell(getattr(instance, column.field, ""))
        return values

    def existing_related(self) -> tuple[str, ...]:
        """Relations to ``select_related`` when loading existing records."""
        return ()

    # --- derived, not usually overridden -----------------------------------------------

    def get_title(self) -> str:
        return str(self.title or self.model._meta.verbose_name_plural).capitalize()

    def has_permission(self, user: Any) -> bool:
        return bool(user.is_authenticated and user.has_perms(self.permissions))

    def get_form(self, context: dict[str, Any], data: dict[str, Any] | None = None) -> forms.Form:
        return self.form_class(data=data, context=context)

    def write_fields(self) -> list[str]:
        """Model attributes an upload writes (the form's model values, excluding the key)."""
        return [name for name in self.model_value_fields() if name not in self.natural_key]

    def model_value_fields(self) -> list[str]:
        return list(dict.fromkeys([c.field for c in self.columns if c.field] + list(self.natural_key)))

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def key_of(self, values: dict[str, Any]) -> tuple:
        return tuple(values[name] for name in self.natural_key)


def format_cell(value: Any) -> str:
    """A model or cell value as the text a spreadsheet user would type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, decimal.Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def normalize_header(text: Any) -> str:
    """Header text as compared: case, surrounding spaces and underscores do not matter."""
    return re.sub(r"\s+", " ", str(text or "").replace("_", " ")).strip().casefold()


def register(spec_class: type[UploadSpec]) -> type[UploadSpec]:
    """Class decorator: make a spec available under its slug."""
    slug = spec_class.slug
    existing = _registry.get(slug)
    if existing is not None and type(existing) is not spec_class:
        raise ValueError(f"Another upload spec is registered as {slug!r}: {type(existing).__name__}")
    _registry[slug] = spec_class()
    return spec_class


def get_spec(slug: str) -> UploadSpec:
    """The registered spec for ``slug``; ``KeyError`` if none."""
    return _registry[slug]


def get_spec_or_404(slug: str) -> UploadSpec:
    try:
        return get_spec(slug)
    except KeyError:
        raise Http404("No such upload type.") from None


def all_specs() -> list[UploadSpec]:
    return sorted(_registry.values(), key=lambda s: s.slug)
