"""System checks: refuse to start without what keeps hostile files harmless, or with a broken spec.

Every registered spec is checked at startup (``manage.py check``, ``runserver``, ``migrate``), the way the
admin checks each ``ModelAdmin``: a declaration that cannot work is an error with an id, not a 500 at the
first upload.

=================== =====================================================================
bulkupload.E001/2   defusedxml missing or not used by openpyxl
bulkupload.E003     ``model`` is not a Django model
bulkupload.E004     ``fields`` names no field of the model (or one that cannot be written)
bulkupload.E005     ``natural_key`` names no field of the model
bulkupload.E006     ``natural_key`` is neither written by a column nor given by the scope
bulkupload.E007     ``import_mode`` is not "upsert", "create" or "update"
bulkupload.E008     "upsert" or "update" without a natural key
bulkupload.E009     ``lookups`` names a field that is not a foreign key among ``fields``
bulkupload.E010     ``lookups`` names no field of the related model
bulkupload.E011     ``lookups`` names a field that does not identify one related record
bulkupload.E012     a column override matches no field in ``fields``, or two columns share a key
bulkupload.E013     a custom row form lacks a field its columns name (or declares one no column fills)
bulkupload.E014     ``empty_values``/``date_formats``/``fields``/``natural_key`` is a string, not a tuple
bulkupload.E015     ``batch_field`` is not a foreign key to UploadBatch
bulkupload.E016     ``slug`` cannot be part of a URL (letters, digits, hyphens and underscores only)
bulkupload.E017     ``BULKUPLOAD["WEBHOOKS"]`` is not a list of dicts, an entry has an unknown key, or its
                    ``specs``/``events`` is not a list
bulkupload.E018     a webhook entry without an http(s) ``url`` or without a ``secret``
bulkupload.E019     a webhook entry names an event that is never sent
bulkupload.W001     ``permissions = ()``: any user with a scope may write these records
bulkupload.W002     a natural key in "create" mode is not used
bulkupload.W003     a webhook entry names a spec that is not registered (its receiver would get nothing for it)
=================== =====================================================================
"""

from __future__ import annotations

import re
from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from .spec.base import CREATE, IMPORT_MODES, UploadSpec


@register()
def defusedxml_installed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """defusedxml must be importable and used by openpyxl, or workbooks could expand entities or read local files."""
    try:
        import defusedxml  # noqa: F401
    except ImportError:
        return [
            Error(
                "defusedxml is not installed; uploaded workbooks cannot be parsed safely.",
                hint="pip install defusedxml (it is pinned in requirements.txt).",
                id="bulkupload.E001",
            )
        ]
    import openpyxl

    if not openpyxl.DEFUSEDXML:
        return [
            Error(
                "openpyxl does not use defusedxml (is OPENPYXL_DEFUSEDXML set to something other than True?).",
                hint="Unset OPENPYXL_DEFUSEDXML so that openpyxl parses workbooks through defusedxml.",
                id="bulkupload.E002",
            )
        ]
    return []


@register()
def registered_specs(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every registered upload spec can work: its fields, key, mode, lookups and row form agree."""
    from .spec import registry

    return [message for spec in registry.all() for message in spec.check()]


@register()
def webhook_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every receiver in ``BULKUPLOAD["WEBHOOKS"]`` can be sent to and signed for, and names only real events and specs."""
    from .webhooks import check_settings

    return check_settings()


def check_spec(spec: UploadSpec) -> list[CheckMessage]:
    """The check messages for one spec (its class is the ``obj`` each message names)."""
    from .spec.model import ModelUploadSpec

    model = getattr(spec, "model", None)
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        return [_error(spec, "E003", f"'model' is {model!r}, not a Django model.", "Set model = YourModel.")]
    messages = _check_strings(spec)
    if messages:
        return messages
    if isinstance(spec, ModelUploadSpec):
        messages += _check_model_fields(spec) + _check_lookups(spec) + _check_overrides(spec)
    else:
        messages += _check_row_form(spec)
    messages += _check_key(spec) + _check_batch_field(spec) + _check_permissions(spec) + _check_slug(spec)
    return messages


def _check_slug(spec: UploadSpec) -> list[CheckMessage]:
    if re.fullmatch(r"[-a-zA-Z0-9_]+", str(getattr(spec, "slug", ""))):
        return []
    slug = getattr(spec, "slug", "")
    return [_error(spec, "E016", f"slug {slug!r} cannot be part of a URL.", "Use letters, digits, hyphens and underscores.")]


def _name(spec: UploadSpec) -> str:
    return type(spec).__qualname__


def _error(spec: UploadSpec, code: str, message: str, hint: str) -> Error:
    return Error(f"{_name(spec)}: {message}", hint=hint, obj=type(spec), id=f"bulkupload.{code}")


def _warning(spec: UploadSpec, code: str, message: str, hint: str) -> Warning:
    return Warning(f"{_name(spec)}: {message}", hint=hint, obj=type(spec), id=f"bulkupload.{code}")


def _label(spec: UploadSpec) -> str:
    return spec.model._meta.label


def _check_strings(spec: UploadSpec) -> list[CheckMessage]:
    """A bare string where a tuple belongs (``empty_values = "NA"``) would be read letter by letter."""
    found = []
    for attribute in ("fields", "natural_key", "empty_values", "date_formats", "permissions"):
        value = getattr(spec, attribute, None)
        if isinstance(value, str):
            found.append(
                _error(
                    spec,
                    "E014",
                    f"'{attribute}' is the string {value!r}, not a tuple.",
                    f"Write {attribute} = ({value!r},) (mind the comma).",
                )
            )
    return found


def _check_model_fields(spec: Any) -> list[CheckMessage]:
    found = []
    if not spec.fields:
        found.append(_error(spec, "E004", "'fields' is empty.", f"Name the fields of {_label(spec)} the spreadsheet fills."))
    for name in spec.fields:
        try:
            model_field = spec.model._meta.get_field(name)
        except FieldDoesNotExist:
            choices = ", ".join(f.name for f in spec.model._meta.concrete_fields if f.editable and not f.primary_key)
            found.append(_error(spec, "E004", f"'fields' names {name!r}, which is not a field of {_label(spec)}.", f"Fields: {choices}."))
            continue
        if spec.model_field(name) is None or not model_field.editable or (model_field.primary_key and model_field.auto_created):
            found.append(
                _error(
                    spec,
                    "E004",
                    f"'fields' names {name!r}, which an upload cannot write (not editable, automatic, or many-to-many).",
                    "Remove it from fields; set it in scope_values() or in the model if it needs a value.",
                )
            )
    return found


def _check_lookups(spec: Any) -> list[CheckMessage]:
    found = []
    for name, unique in spec.lookups.items():
        model_field = spec.model_field(name)
        if model_field is None or not model_field.is_relation or (name not in spec.fields and model_field.attname not in spec.fields):
            found.append(
                _error(spec, "E009", f"'lookups' names {name!r}, which is not a foreign key in 'fields'.", "Add the foreign key to fields.")
            )
            continue
        related = model_field.related_model
        try:
            related_field = related._meta.get_field(unique)
        except FieldDoesNotExist:
            found.append(_error(spec, "E010", f"'lookups' names {unique!r}, which is not a field of {related._meta.label}.", ""))
            continue
        if not _identifies(related, related_field):
            found.append(
                _error(
                    spec,
                    "E011",
                    f"lookups[{name!r}] = {unique!r}, but {related._meta.label}.{unique} is not unique: a cell could name several records.",
                    "Use a field with unique=True (or in a UniqueConstraint with the scope's fields, and filter by the scope in "
                    "get_lookup_queryset()).",
                )
            )
    return found


def _identifies(model: type[models.Model], field: models.Field) -> bool:
    """The field is unique, or unique together with other fields (filtered by the scope)."""
    if field.unique or field.primary_key:
        return True
    groups = [tuple(group) for group in model._meta.unique_together]
    groups += [tuple(c.fields) for c in model._meta.total_unique_constraints]
    return any(field.name in group for group in groups)


def _check_overrides(spec: Any) -> list[CheckMessage]:
    found = []
    names = set(spec.fields) | {f.attname for f in spec.model._meta.concrete_fields if f.name in spec.fields}
    for column in type(spec).columns:
        if (column.field or column.key) not in names:
            found.append(
                _error(
                    spec,
                    "E012",
                    f"The column {column.key!r} overrides {(column.field or column.key)!r}, which is not in 'fields'.",
                    "Set Column(..., field=<a name in fields>) or add the field to fields.",
                )
            )
    found += _duplicate_keys(spec)
    extra = [name for name in spec.form_class.base_fields if name not in {column.key for column in spec.columns}]
    if extra:
        found.append(
            _error(
                spec,
                "E013",
                f"form_class {spec.form_class.__name__} declares {', '.join(map(repr, extra))}, which no column fills.",
                "A form_class field must be a column's key (a name in fields, or a Column's key).",
            )
        )
    return found


def _duplicate_keys(spec: UploadSpec) -> list[CheckMessage]:
    keys = [column.key for column in spec.columns]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    return [_error(spec, "E012", f"Two columns have the key {key!r}.", "Give each column its own key.") for key in twice]


def _check_row_form(spec: UploadSpec) -> list[CheckMessage]:
    found = _duplicate_keys(spec)
    form_class = getattr(spec, "form_class", None)
    if form_class is None:
        return [*found, _error(spec, "E013", "has no 'form_class'.", "Declare a row form, or use ModelUploadSpec.")]
    missing = [column.key for column in spec.columns if column.key not in form_class.base_fields]
    if missing:
        found.append(
            _error(
                spec,
                "E013",
                f"the row form {form_class.__name__} has no field for the columns {', '.join(map(repr, missing))}.",
                "Each column's key must be a field of the row form.",
            )
        )
    for column in spec.columns:
        if column.field and _model_field(spec.model, column.field) is None:
            found.append(_error(spec, "E004", f"the column {column.key!r} lands in {column.field!r}, not a field of {_label(spec)}.", ""))
    return found


def _model_field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _check_key(spec: UploadSpec) -> list[CheckMessage]:
    if spec.import_mode not in IMPORT_MODES:
        return [_error(spec, "E007", f"import_mode is {spec.import_mode!r}.", f"Use one of: {', '.join(map(repr, IMPORT_MODES))}.")]
    if spec.import_mode == CREATE:
        if spec.natural_key:
            return [_warning(spec, "W002", "natural_key is not used: import_mode 'create' makes every valid row a new record.", "")]
        return []
    if not spec.natural_key:
        return [
            _error(
                spec,
                "E008",
                f"import_mode {spec.import_mode!r} needs a natural_key: the fields that find a row's existing record.",
                "Set natural_key = (...), or import_mode = 'create' to make every valid row a new record.",
            )
        ]
    found = []
    written = {column.field for column in spec.columns if column.field}
    scoped = {_attname(spec.model, name) for name in getattr(spec, "scope_fields", ())}
    for name in spec.natural_key:
        model_field = _model_field(spec.model, name)
        if model_field is None:
            found.append(_error(spec, "E005", f"natural_key names {name!r}, which is not a field of {_label(spec)}.", ""))
        elif model_field.attname not in written | scoped and not _legacy_key(spec, model_field):
            found.append(
                _error(
                    spec,
                    "E006",
                    f"natural_key names {name!r}, which no column writes and the scope does not give.",
                    "Add it to fields, or to scope_fields if scope_values() sets it.",
                )
            )
    return found


def _legacy_key(spec: UploadSpec, model_field: models.Field) -> bool:
    """A hand-written spec's to_model_values() may produce key values no column names: trusted, as before."""
    from .spec.model import ModelUploadSpec

    return not isinstance(spec, ModelUploadSpec) and model_field.attname in spec.natural_key


def _attname(model: type[models.Model], name: str) -> str:
    field = _model_field(model, name)
    return field.attname if field is not None else name


def _check_batch_field(spec: UploadSpec) -> list[CheckMessage]:
    if not spec.batch_field:
        return []
    from .models import UploadBatch

    field = _model_field(spec.model, spec.batch_field)
    if field is None or not field.many_to_one or field.related_model is not UploadBatch:
        return [
            _error(
                spec,
                "E015",
                f"batch_field {spec.batch_field!r} is not a foreign key of {_label(spec)} to bulkupload.UploadBatch.",
                "Add models.ForeignKey('bulkupload.UploadBatch', null=True, blank=True, on_delete=models.SET_NULL, related_name='+').",
            )
        ]
    return []


def _check_permissions(spec: UploadSpec) -> list[CheckMessage]:
    if spec.permissions is None or tuple(spec.permissions):
        return []
    if type(spec).has_permission is not UploadSpec.has_permission:
        return []  # the spec says who may upload in its own has_permission()
    return [
        _warning(
            spec,
            "W001",
            f"permissions = (): every user with a scope may create and change {spec.model._meta.verbose_name_plural}.",
            "Remove 'permissions' to require the model's add and change permissions (as the admin does), name the permissions "
            "uploading needs, or say who may upload in has_permission().",
        )
    ]
