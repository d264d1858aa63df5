"""Row forms generated from a model, like ``modelform_factory``: one spreadsheet-tolerant form field per column."""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .. import conf, fields


class RowForm(forms.Form):
    """The base of every generated row form.

    It takes the upload's ``context`` (loaded once per upload), gives each lookup
    field its table of related records, and treats the spec's ``empty_values``
    (``NA``, say) as blank cells. A spec's ``form_class`` is mixed in after it, so
    its ``clean_<column>()`` and ``clean()`` methods can read ``self.context``.
    """

    #: Cell texts that mean "no value".
    empty_cells: frozenset[str] = frozenset()

    def __init__(self, *args: Any, context: dict[str, Any], **kwargs: Any) -> None:
        self.context = context
        super().__init__(*args, **kwargs)
        tables = context.get("lookups", {})
        for name, field in self.fields.items():
            if isinstance(field, fields.LookupField) and name in tables:
                field.table = tables[name]

    def full_clean(self) -> None:
        if self.empty_cells and self.data:
            self.data = {k: "" if isinstance(v, str) and v.strip() in self.empty_cells else v for k, v in self.data.items()}
        super().full_clean()


def is_required(model_field: models.Field) -> bool:
    """Whether a cell may not be blank: the model says ``blank=False``, and a blank cell has no value to stand for it."""
    if isinstance(model_field, models.BooleanField):
        return False  # blank means no (or unknown, with null=True)
    return not model_field.blank


def form_field(
    model_field: models.Field, *, required: bool, lookup: Any = None, choices: tuple = (), date_formats: tuple = ()
) -> forms.Field:
    """The spreadsheet-tolerant form field that parses and validates a cell for ``model_field``.

    ``lookup``: the related model's field that names a record (a foreign key found by it).
    ``choices``: what the column accepts, when it says rather than the model.
    """
    if lookup is not None:
        related = model_field.related_model
        return fields.LookupField(model_name=related._meta.verbose_name, required=required)
    empty = None if model_field.null else ""
    if isinstance(model_field, models.BooleanField):
        field = fields.SpreadsheetBooleanField(nullable=model_field.null)  # a column's choices are only its dropdown
    elif choices or model_field.choices:
        field = fields.LenientChoiceField(choices=choices or model_field.flatchoices, required=required, empty_value=empty)
    elif isinstance(model_field, models.DateTimeField):
        field = fields.SpreadsheetDateTimeField(required=required, date_formats=date_formats)
    elif isinstance(model_field, models.DateField):
        field = fields.SpreadsheetDateField(required=required, input_formats=[*conf.get("DATE_INPUT_FORMATS"), *date_formats])
    elif isinstance(model_field, models.TimeField):
        field = fields.SpreadsheetTimeField(required=required)
    elif isinstance(model_field, models.DecimalField):
        field = model_field.formfield(form_class=fields.SpreadsheetDecimalField, required=required)
    elif isinstance(model_field, models.FloatField):
        field = model_field.formfield(form_class=fields.SpreadsheetFloatField, required=required)
    elif isinstance(model_field, models.IntegerField):
        field = model_field.formfield(form_class=fields.SpreadsheetIntegerField, required=required)
    else:
        field = model_field.formfield(required=required) or forms.CharField(required=required)
    # The model field's validators (its own, and the database's integer range) that the form field lacks.
    field.validators = [*field.validators, *(v for v in model_field.validators if v not in field.validators)]
    return field


def column_format(model_field: models.Field, *, lookup: Any = None, choices: bool = False) -> Any:
    """What the template's instructions say a cell holds."""
    if lookup is not None:
        related = model_field.related_model._meta
        named = next((f for f in related.get_fields() if f.name == lookup), None)  # a wrong name is a system check error
        return format_lazy(_("The {field} of a {model}"), field=getattr(named, "verbose_name", lookup), model=related.verbose_name)
    if choices:
        return _("One of the list")
    kinds = [
        (models.BooleanField, _("yes/no, true/false, y/n, 1/0, x or blank")),
        (models.DateTimeField, _("Date and time (YYYY-MM-DD HH:MM)")),
        (models.DateField, _("Date (YYYY-MM-DD or an Excel date)")),
        (models.TimeField, _("Time of day (HH:MM)")),
        (models.IntegerField, _("Whole number")),
        (models.DecimalField, _("Number")),
        (models.FloatField, _("Number")),
        (models.EmailField, _("Email address")),
    ]
    for kind, text in kinds:
        if isinstance(model_field, kind):
            return text
    if getattr(model_field, "max_length", None):
        return format_lazy(_("Text, at most {count} characters"), count=model_field.max_length)
    return _("Text")


def column_width(model_field: models.Field, *, lookup: Any = None) -> int:
    """A template column wide enough for typical values."""
    if lookup is not None or isinstance(model_field, models.DateField | models.TimeField):
        return 16
    if isinstance(model_field, models.BooleanField | models.IntegerField | models.DecimalField | models.FloatField):
        return 12
    length = getattr(model_field, "max_length", None) or 60
    return max(12, min(40, length // 3))


def row_form_class(name: str, base: type[forms.Form], declared: dict[str, forms.Field], empty_values: tuple[str, ...]) -> type[RowForm]:
    """A row form class: ``base``'s fields and methods, plus ``declared`` fields for the columns ``base`` does not declare."""
    attrs: dict[str, Any] = {name_: copy.deepcopy(field) for name_, field in declared.items() if name_ not in base.base_fields}
    attrs["empty_cells"] = frozenset(str(v).strip() for v in empty_values)
    attrs["__module__"] = __name__
    bases = (RowForm,) if base is forms.Form else (RowForm, base)
    return type(name, bases, attrs)
