"""Row validation compiled once per upload: the row form's field loop as one plain call per column.

A row form's ``full_clean()`` makes a bound field for each column, reads each cell
through the field's widget and cleans it with the field's ``clean()``; and most cells
of a file repeat (emails, dates, project codes, yes/no, hours). :func:`compile_form`
replaces only the form's field loop (``_clean_fields``) on the upload's one form
instance; ``full_clean()``, ``clean_<column>()``, ``clean()``, ``add_error()`` and so
every message stay the form's own. The compiled loop:

- reads each cell straight from the row (through the widget only when the widget
  reads data its own way), with the ``clean_<column>`` hook bound once;
- remembers, per column, the value a cell text was cleaned to without error, for the
  fields and validators known to depend on nothing but the text (Django's and the
  engine's own classes, not subclasses of them), and gives a repeated text that value
  again. A text that fails is always cleaned by its field, so its messages are the field's.

A form the compiled loop cannot honour exactly (its own ``_clean_fields``, a disabled
or file field, a field cleaning bound data its own way) keeps the full form path.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from . import conf

#: Field classes (exactly these, not subclasses) whose cleaning depends only on the cell's text and the field's own settings.
_PURE_FIELD_MODULES = ("django.forms.fields", "bulkupload.fields")
#: Validator classes known to depend only on the value.
_PURE_VALIDATOR_MODULES = ("django.core.validators",)
#: Cleaned values that may be shared by rows: nothing a hook or the spec could change in place.
_SHAREABLE = frozenset({str, int, float, bool, decimal.Decimal, datetime.date, datetime.datetime, datetime.time, type(None)})
_MISSING = object()


def compile_form(form: forms.BaseForm) -> bool:
    """Give ``form`` the compiled field loop; False (the form unchanged) when it cannot be honoured exactly."""
    if not conf.get("COMPILED_VALIDATION") or type(form)._clean_fields is not forms.BaseForm._clean_fields:
        return False
    columns = []
    for name, field in form.fields.items():
        if field.disabled or isinstance(field, forms.FileField) or type(field)._clean_bound_field is not forms.Field._clean_bound_field:
            return False
        hook = getattr(form, f"clean_{name}", None)
        memo = {} if _is_pure(field) else None
        html_name = form.add_prefix(name)
        columns.append((name, html_name, _reader(form, field, html_name), field.clean, memo, hook))
    limit = conf.get("VALIDATION_MEMO_SIZE")
    form._clean_fields = lambda: _clean_fields(form, columns, limit)  # an instance attribute: full_clean() calls it
    return True


def _is_pure(field: forms.Field) -> bool:
    if type(field).__module__ not in _PURE_FIELD_MODULES:
        return False
    return all(type(validator).__module__ in _PURE_VALIDATOR_MODULES for validator in field.validators)


def _reader(form: forms.BaseForm, field: forms.Field, html_name: str) -> Callable[[dict], Any] | None:
    """What ``form[name].data`` reads: None for the row's cell itself, or the widget's own reading of the data."""
    widget = field.widget
    if type(widget).value_from_datadict is forms.Widget.value_from_datadict:
        return None
    return lambda data: widget.value_from_datadict(data, form.files, html_name)


def _clean_fields(form: forms.BaseForm, columns: list[tuple], limit: int) -> None:
    """Django's ``BaseForm._clean_fields`` for the compiled columns: the same values, hooks and errors."""
    data, cleaned = form.data, form.cleaned_data
    for name, html_name, read, clean, memo, hook in columns:
        try:
            raw = data.get(html_name) if read is None else read(data)
            value = _MISSING if memo is None or type(raw) is not str else memo.get(raw, _MISSING)
            if value is _MISSING:
                value = clean(raw)
                if memo is not None and type(raw) is str and type(value) in _SHAREABLE and len(memo) < limit:
                    memo[raw] = value
            cleaned[name] = value
            if hook is not None:
                cleaned[name] = hook()
        except ValidationError as error:
            form.add_error(name, error)
