""":class:`ModelUploadSpec`: an upload declared once, in the spirit of ``ModelForm`` and ``ModelAdmin``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from functools import cached_property
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import capfirst

from .. import conf
from ..fields import LookupTable
from . import rowform
from .base import Column, UploadSpec, format_cell

#: A Column attribute at this value is derived from the model.
_UNSET: dict[str, Any] = {f.name: f.default for f in dataclass_fields(Column)}


class ModelUploadSpec(UploadSpec):
    """An upload derived from its model: columns, parsing, validation, labels and permissions.

    Declare ``model`` and ``fields`` (model field names, in the template's order);
    optionally ``natural_key`` (model field names) and ``import_mode``, ``lookups``
    (``{foreign key: unique field of the related model}``), ``empty_values``,
    ``date_formats``, ``columns`` (a :class:`Column` per field whose derived
    column should differ, matched by ``field`` or ``key``) and ``form_class`` (a
    plain form whose ``clean_<column>()``/``clean()`` state rules a model cannot;
    ``self.context`` holds what :meth:`get_row_context` loaded).
    """

    fields: ClassVar[Sequence[str]] = ()
    #: Foreign key name → the related model's unique field that names a record in the file.
    lookups: ClassVar[dict[str, str]] = {}
    #: Cell texts that mean "no value" (``("NA",)``).
    empty_values: ClassVar[Sequence[str]] = ()
    #: Date formats (``strptime``) tried after the engine's own ``DATE_INPUT_FORMATS``.
    date_formats: ClassVar[Sequence[str]] = ()
    #: Model fields that :meth:`scope_values` fills (may be part of the natural key).
    scope_fields: ClassVar[Sequence[str]] = ()
    form_class: ClassVar[type[forms.Form]] = forms.Form
    #: Column overrides; the columns themselves come from ``fields``.
    columns: Sequence[Column] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("model")
        if model is not None and "slug" not in cls.__dict__ and hasattr(model, "_meta"):
            cls.slug = f"{model._meta.app_label}-{model._meta.model_name}"

    # --- columns -------------------------------------------------------------------------

    def get_columns(self) -> list[Column]:
        """One column per name in ``fields``: derived from the model field, with its override applied."""
        overrides = {(c.field or c.key): c for c in type(self).columns}
        columns = []
        for name in self.fields:
            model_field = self.model_field(name)
            if model_field is None:
                continue  # reported by the system checks (bulkupload.E004)
            override = overrides.get(name) or overrides.get(model_field.attname) or Column(name)
            columns.append(self._column(model_field, override))
        return columns

    def _column(self, model_field: models.Field, override: Column) -> Column:
        lookup = self.lookup_field(model_field)
        derived = Column(
            key=override.key,
            label=capfirst(model_field.verbose_name),
            required=rowform.is_required(model_field),
            aliases=(model_field.name,) if override.key != model_field.name else (),
            field=model_field.attname,
            help_text=model_field.help_text,
            format=rowform.column_format(model_field, lookup=lookup, choices=bool(override.choices or model_field.choices)),
            choices=tuple(label for _value, label in model_field.flatchoices) if model_field.choices and lookup is None else (),
            width=rowform.column_width(model_field, lookup=lookup),
        )
        given = {name: getattr(override, name) for name, unset in _UNSET.items() if getattr(override, name) != unset}
        given.pop("field", None)
        if "aliases" in given:
            given["aliases"] = tuple(dict.fromkeys([*given["aliases"], *derived.aliases]))
        return replace(derived, **given)

    def model_field(self, name: str) -> models.Field | None:
        """The concrete model field ``name`` (a name or an attname), or None."""
        try:
            found = self.model._meta.get_field(name)
        except (FieldDoesNotExist, AttributeError):
            return None
        return found if getattr(found, "concrete", False) and not found.many_to_many else None

    def lookup_field(self, model_field: models.Field) -> str | None:
        """The related model's field that names a record in a cell, for a foreign key (its primary key if not declared)."""
        if not model_field.is_relation:
            return None
        return self.lookups.get(model_field.name) or self.lookups.get(model_field.attname) or model_field.target_field.name

    @cached_property
    def _fields_by_key(self) -> dict[str, models.Field]:
        return {column.key: self.model._meta.get_field(column.field) for column in self.columns}

    # --- the row form ---------------------------------------------------------------------

    @cached_property
    def row_form_class(self) -> type[forms.Form]:
        """The generated row form: a spreadsheet-tolerant field per column, ``form_class``'s rules on top."""
        declared = {}
        for column in self.columns:
            model_field = self._fields_by_key[column.key]
            if column.form_field is not None:
                declared[column.key] = column.form_field
                continue
            declared[column.key] = rowform.form_field(
                model_field,
                required=bool(column.required),
                lookup=self.lookup_field(model_field),
                choices=self._declared_choices(column, model_field),
                date_formats=tuple(self.date_formats),
            )
        return rowform.row_form_class(f"{type(self).__name__}RowForm", self.form_class, declared, tuple(self.empty_values))

    @staticmethod
    def _declared_choices(column: Column, model_field: models.Field) -> tuple:
        """The choices a column override declares (they replace the model's); () when they are the model's labels."""
        derived = tuple(label for _value, label in model_field.flatchoices) if model_field.choices else ()
        return column.choices if column.choices and column.choices != derived else ()

    def get_form(self, context: dict[str, Any], data: dict[str, Any] | None = None) -> forms.Form:
        return self.row_form_class(data=data, context=context)

    def get_row_context(self, scope: Any) -> dict[str, Any]:
        """The related records of every lookup column, loaded once per upload (never a query per row).

        Override to add what ``form_class``'s rules need, calling ``super()``.
        """
        lookups = {}
        for column in self.columns:
            model_field = self._fields_by_key[column.key]
            lookup = self.lookup_field(model_field)
            if lookup is not None:
                queryset = self.get_lookup_queryset(model_field.name, scope).order_by()
                lookups[column.key] = LookupTable(queryset.values_list(lookup, model_field.target_field.attname).iterator())
        return {"lookups": lookups}

    def get_lookup_queryset(self, field: str, scope: Any) -> models.QuerySet:
        """The related records a lookup column may name (``field``: the foreign key's name); filter by ``scope`` for a tenant's data."""
        return self.model._meta.get_field(field).related_model._default_manager.all()

    # --- values ----------------------------------------------------------------------------

    @cached_property
    def _assignments(self) -> list[tuple[str, str, Any]]:
        """(column key, attname, value for a blank cell) per column: the model's default where it has one and no null."""
        found = []
        for column in self.columns:
            model_field = self._fields_by_key[column.key]
            fixed = model_field.has_default() and not callable(model_field.default) and not model_field.null
            default = model_field.get_default() if fixed else None
            found.append((column.key, model_field.attname, default))
        return found

    def to_model_values(self, cleaned_data: dict[str, Any], scope: Any) -> dict[str, Any]:
        values = {}
        for key, attname, default in self._assignments:
            value = cleaned_data.get(key)
            values[attname] = default if value is None and default is not None else value
        if self._key_from_scope:
            scoped = self.scope_values(scope)
            for attname, name in self._key_from_scope:
                value = scoped[attname] if attname in scoped else scoped.get(name)
                values[attname] = value.pk if isinstance(value, models.Model) else value  # {"tenant": obj} or {"tenant_id": pk}
        return values

    @cached_property
    def _key_from_scope(self) -> list[tuple[str, str]]:
        """Parts of the natural key the scope gives (not a column): (attname, name)."""
        written = {column.field for column in self.columns}
        return [(name, self.model._meta.get_field(name).name) for name in self.key_fields if name not in written]

    def to_row_values(self, instance: models.Model) -> dict[str, str]:
        """A record as the cells a user would type: lookup values rather than primary keys, choice labels rather than codes."""
        values = {}
        for column in self.columns:
            model_field = self._fields_by_key[column.key]
            lookup = self.lookup_field(model_field)
            if lookup is not None:
                related = getattr(instance, model_field.name)
                values[column.key] = format_cell(getattr(related, lookup)) if related is not None else ""
            elif model_field.choices and not column.form_field:
                value = getattr(instance, model_field.attname)
                values[column.key] = str(dict(model_field.flatchoices).get(value, format_cell(value)))
            else:
                values[column.key] = format_cell(getattr(instance, model_field.attname))
        return values

    def existing_related(self) -> tuple[str, ...]:
        """Foreign keys shown by a lookup value: their records are loaded with existing records (once per upload)."""
        return tuple(self._fields_by_key[c.key].name for c in self.columns if self.lookup_field(self._fields_by_key[c.key]) is not None)

    def template_choices(self, scope: Any = None) -> dict[str, tuple[str, ...]]:
        """Choice columns, and lookup columns whose records in ``scope`` are few enough for a dropdown."""
        found = super().template_choices(scope)
        if scope is None:
            return found
        return {**found, **self._lookup_values(scope, conf.get("LOOKUP_DROPDOWN_MAX_VALUES"), self.get_lookup_queryset)}

    def suggestions(self, scope: Any, limit: int) -> dict[str, tuple[str, ...]]:
        """Lookup column key → the values of ``get_suggestion_queryset`` in ``scope``, sorted; none beyond ``limit``."""
        return self._lookup_values(scope, limit, self.get_suggestion_queryset)

    def get_suggestion_queryset(self, field: str, scope: Any) -> models.QuerySet:
        """The related records the preview suggests for a lookup column: ``get_lookup_queryset`` unless narrowed (only
        the records a row may use, say: an active project)."""
        return self.get_lookup_queryset(field, scope)

    def _lookup_values(self, scope: Any, limit: int, queryset: Any) -> dict[str, tuple[str, ...]]:
        found = {}
        for column in self.columns:
            model_field = self._fields_by_key[column.key]
            lookup = self.lookup_field(model_field)
            if lookup is None or column.choices:
                continue
            # One more than allowed is read, never the whole table: a column past the limit gets no list.
            values = list(queryset(model_field.name, scope).order_by(lookup).values_list(lookup, flat=True)[: limit + 1])
            if values and len(values) <= limit:
                found[column.key] = tuple(format_cell(v) for v in values)
        return found
