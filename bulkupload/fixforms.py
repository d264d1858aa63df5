"""The preview's fix forms: the cells of each invalid row, editable in the page, dates shown in the user's locale."""

from __future__ import annotations

import datetime
from collections.abc import Collection
from typing import Any

from django import forms
from django.utils import formats

from . import fields, values
from .forms import errors_id
from .spec import UploadSpec


class RowFixForm(forms.Form):
    """The cells of one invalid row, editable in the preview."""

    row = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, spec: UploadSpec, date_orders: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = cell_kinds(spec)
        for column in spec.columns:
            kind, options = kinds.get(column.key, ("", []))
            field_class = LocaleDateText if kind == "date" else forms.CharField
            # data-key: the column, for the page's script that saves a cell as the user leaves it.
            attrs = {"class": "cell-input", "data-key": column.key}
            self.fields[column.key] = field_class(
                label=column.label, required=False, max_length=10_000, strip=True, widget=forms.TextInput(attrs=attrs)
            )
            self.fields[column.key].options = options
            self.fields[column.key].order = (date_orders or {}).get(column.key)
            # The cell's messages are beside it; a choice column offers its values in a <datalist> (typing stays possible).
            shown = self[column.key]
            shown.field.widget.attrs["aria-describedby"] = errors_id(shown)
            shown.field.widget.attrs.pop("maxlength")  # a longer cell is refused with a message, never cut short unseen
            if options:
                shown.field.widget.attrs.update({"list": f"{shown.auto_id}_values", "autocomplete": "off"})

    def show_row(self, *, errors: dict[str, list[str]], suggested: Collection[str]) -> None:
        """Mark the cells the stored row has errors in, and offer the lookup columns' ``suggested`` values (the
        page's ``bulkupload-suggest-<key>`` lists) in the boxes of columns without a list of their own."""
        for key, field in self.fields.items():
            attrs = field.widget.attrs
            if errors.get(key):
                attrs["aria-invalid"] = "true"
            if key in suggested and "list" not in attrs:
                attrs.update({"list": f"bulkupload-suggest-{key}", "autocomplete": "off"})


class BaseRowFixFormSet(forms.BaseFormSet):
    """``date_orders`` (the upload's ``UploadBatch.date_orders``): how date cells the file wrote are read for showing them."""

    def __init__(self, *args: Any, spec: UploadSpec, date_orders: dict[str, str] | None = None, **kwargs: Any) -> None:
        self.spec = spec
        self.date_orders = date_orders or {}
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {"spec": self.spec, "date_orders": self.date_orders}

    def edits(self) -> dict[int, dict[str, str]]:
        """Row id → the cells the user changed."""
        edits = {}
        for form in self.forms:
            if form.has_changed():
                cells = {c.key: form.cleaned_data.get(c.key, "") for c in self.spec.columns}
                edits[form.cleaned_data["row"]] = cells
        return edits


RowFixFormSet = forms.formset_factory(RowFixForm, formset=BaseRowFixFormSet, extra=0, max_num=500, validate_max=True)


class LocaleDateText(forms.CharField):
    """A date cell's edit box: shown in the active locale's format, and a date typed in it is saved as ISO text.

    A box left as shown is not a change (so the file's text, read by its column's order, stays as it was).
    """

    #: How the column's text dates are read (the upload's order); None: only dates that read one way are shown localised.
    order: str | None = None

    def prepare_value(self, value: Any) -> Any:
        day = _unambiguous_date(value)
        if day is None and self.order:
            day = fields.read_numeric_date(str(value or ""), self.order)
        return formats.date_format(day, "SHORT_DATE_FORMAT") if day is not None else value

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        for pattern in formats.get_format("DATE_INPUT_FORMATS"):
            try:
                return datetime.datetime.strptime(text, pattern).date().isoformat()
            except ValueError:
                continue
        return text

    def has_changed(self, initial: Any, data: Any) -> bool:
        return str(self.prepare_value(initial) or "").strip() != str(data or "").strip()


def _unambiguous_date(value: Any) -> datetime.date | None:
    """The date ISO text, an Excel serial or a numeric date that reads only one way stands for; None otherwise."""
    text = str(value or "").strip()
    try:
        return datetime.date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else None
    except ValueError:
        pass
    orders = fields.date_orders_of(text)
    if len(orders) == 1:
        return fields.read_numeric_date(text, orders.pop())
    return fields.excel_serial_date(text) if text else None


def cell_kinds(spec: UploadSpec) -> dict[str, tuple[str, list[str]]]:
    """Column key → ("date" or "choice", the values a choice column offers) for the preview's edit boxes."""
    base = getattr(spec, "row_form_class", None) or spec.form_class
    found: dict[str, tuple[str, list[str]]] = {}
    for column in spec.columns:
        form_field = getattr(base, "base_fields", {}).get(column.key) or column.form_field
        if isinstance(form_field, fields.SpreadsheetDateField):
            found[column.key] = ("date", [])
        elif isinstance(form_field, fields.LenientChoiceField | fields.SpreadsheetBooleanField):
            found[column.key] = ("choice", [value for value, _label in values.allowed_values(form_field)])
    return found
