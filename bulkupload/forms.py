"""The wizard's forms. They only check what the user entered; the wizard's steps (:mod:`bulkupload.steps`) do the writing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import fields, mapping, services, values
from .exceptions import FileRejected
from .models import UploadBatch
from .reading import Book
from .spec import UploadSpec

__all__ = ["ColumnsForm", "ConfirmForm", "PreviewForm", "SheetChoiceForm", "UploadForm", "ValuesForm", "errors_id"]


class BatchFormMixin:
    def __init__(self, *args: Any, batch: UploadBatch, spec: UploadSpec, **kwargs: Any) -> None:
        self.batch = batch
        self.spec = spec
        super().__init__(*args, **kwargs)

    def mark_errors(self) -> None:
        """Tie the errors to the fields they concern, for a screen reader; called when the step is shown (after the
        step's own work may have added one)."""


def errors_id(shown: forms.BoundField | forms.BaseForm) -> str:
    """The id of the element showing a field's errors (``<field id>_errors``) or a form's own (``<prefix>_errors``)."""
    return f"{shown.auto_id if isinstance(shown, forms.BoundField) else shown.prefix}_errors"


class UploadForm(BatchFormMixin, forms.Form):
    """Step ``upload``: choose the file. A valid form has a readable file (or the batch already holds one)."""

    file = forms.FileField(
        label=_("Spreadsheet"),
        # The reader says "The file is empty." with the file's name.
        allow_empty_file=True,
        help_text=_("An Excel workbook (.xlsx) or a CSV file, with the template's header in the first row."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,text/csv"}),
    )

    #: The server says when a file is missing (the browser's own check would hide the page's message).
    use_required_attribute = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Once staged, the upload step is complete without a file in this request.
        self.fields["file"].required = not self.batch.is_staged
        self.fields["file"].widget.attrs["aria-describedby"] = f"{self['file'].auto_id}_help"
        #: The chosen file's plan, once the form is valid with a file.
        self.plan: mapping.FilePlan | None = None
        #: The file as it was opened and checked for the plan: the step stages its rows from it and closes it.
        self.book: Book | None = None

    def mark_errors(self) -> None:
        if self["file"].errors:
            shown = f"{self['file'].auto_id}_help {errors_id(self['file'])}"
            self.fields["file"].widget.attrs.update({"aria-describedby": shown, "aria-invalid": "true", "autofocus": True})

    def clean_file(self):
        """The file's plan (sheets, header, row estimate), from the file opened once: the wizard's step stages it."""
        upload = self.cleaned_data.get("file")
        if not upload:
            return None
        try:
            self.book, self.plan = mapping.open_planned(self.spec, upload, name=upload.name)
        except FileRejected as exc:
            raise ValidationError(str(exc), code="rejected") from None
        return upload


class SheetChoiceForm(forms.Form):
    """The columns step's choice of sheet: a GET form that shows the step again for another sheet of the workbook."""

    sheet = forms.ChoiceField(
        label=_("Sheet to read"),
        help_text=_("The workbook has several sheets. The first one with the expected columns is chosen."),
        widget=forms.Select(attrs={"id": "sheet-choice", "aria-describedby": "sheet-choice-help"}),
    )
    #: A sheet is always selected; the page's own markup needs no browser check.
    use_required_attribute = False

    def __init__(self, *args: Any, sheets: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sheet"].choices = [(name, name) for name in sheets]


class ColumnsForm(BatchFormMixin, forms.Form):
    """Step ``columns``: which sheet to read and which file column feeds which spec column.

    One choice per file column, the suggestion (a :class:`~bulkupload.mapping.Match`, or the likeliest by spelling)
    preselected; a required column left without a file column blocks the step.
    """

    def __init__(self, *args: Any, user: Any = None, sheet: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.plan: mapping.FilePlan | None = None
        self.suggestions: list[mapping.Suggestion] = []
        self.read_error = ""
        #: File column → its index, for each spec column chosen (set by a valid form).
        self.positions: dict[str, int] = {}
        if not self.batch.source_file:
            return  # no file yet
        chosen = sheet or self.batch.sheet_name or None
        # The plan made at upload: the file is not read again on every visit to this step.
        kept = mapping.FilePlan.from_json(self.batch.plan)
        try:
            if kept is not None:
                self.plan = kept.choose(chosen)
            else:
                with self.batch.source_file.open("rb") as stored:
                    self.plan = mapping.plan_upload(self.spec, stored, name=self.batch.file_name, sheet=chosen)
        except (FileRejected, OSError) as exc:
            self.read_error = str(exc) if isinstance(exc, FileRejected) else _("The uploaded file is no longer available. Upload it again.")
            return
        if len(self.plan.sheets) > 1:
            self.fields["sheet"] = forms.ChoiceField(
                choices=[(s, s) for s in self.plan.sheets], initial=self.plan.sheet, widget=forms.HiddenInput, label=_("Sheet")
            )
        self.suggestions = mapping.suggest_mapping(self.spec, self.plan.header, mapping.remembered_mapping(user, self.spec))
        current = {index: key for key, index in self._staged_positions().items()}
        for suggestion in self.suggestions:
            self.fields[f"col_{suggestion.index}"] = forms.ChoiceField(
                label=suggestion.header,
                required=False,
                choices=self._choices(suggestion),
                # Coming back: what the user confirmed (unlisted columns were ignored); otherwise the suggestion.
                initial=current.get(suggestion.index, "") if current else suggestion.proposed,
            )

    def sheet_choice(self) -> forms.BoundField | None:
        """The sheet to read, for the step's GET form (None when the file has one sheet to read)."""
        if self.plan is None or len(self.plan.sheets) < 2:
            return None
        return SheetChoiceForm(initial={"sheet": self.plan.sheet}, sheets=self.plan.sheets)["sheet"]

    def _staged_positions(self) -> dict[str, int]:
        """The mapping already confirmed for this sheet, when the user comes back to the step."""
        if not self.batch.is_staged or self.plan is None or (self.batch.sheet_name or None) != self.plan.sheet:
            return {}
        by_header = {text: index for index, text in enumerate(self.plan.header) if text}
        return {key: by_header[text] for key, text in self.batch.headers.items() if text in by_header}

    def _choices(self, suggestion: mapping.Suggestion) -> list:
        labels = {c.key: (_("%(label)s (required)") % {"label": c.label}) if c.required else c.label for c in self.spec.columns}
        suggested = [key for key, _score in suggestion.candidates]
        others = [c.key for c in self.spec.columns if c.key not in suggested]
        choices: list = [("", _("Ignore this column"))]
        if suggested:
            choices.append((_("Suggested"), [(key, labels[key]) for key in suggested]))
        choices.append((_("Other columns") if suggested else _("Columns"), [(key, labels[key]) for key in others]))
        return choices

    def column_fields(self) -> list[tuple[mapping.Suggestion, forms.BoundField, list[str]]]:
        """Each file column with its choice and sample values, for the template."""
        samples = self.plan.samples if self.plan else []
        return [
            (s, self[f"col_{s.index}"], [row[s.index] for row in samples if s.index < len(row) and row[s.index]]) for s in self.suggestions
        ]

    def required_columns_json(self) -> str:
        """Required column key → label, for the page's script that lists what is still to choose."""
        return json.dumps({c.key: str(c.label) for c in self.spec.columns if c.required})

    def unmapped_required(self) -> list[str]:
        """Labels of required columns no file column feeds (in the form as shown)."""
        if self.plan is None:
            return []
        chosen = {self[f"col_{s.index}"].value() for s in self.suggestions}
        return [c.label for c in self.spec.columns if c.required and c.key not in chosen]

    def _post_clean(self) -> None:
        super()._post_clean()
        # Tie each error to its choice, so a screen reader reads both together.
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": errors_id(self[name])})

    def clean(self):
        cleaned = super().clean()
        if self.plan is None:
            if self.batch.is_staged and not self.read_error:
                return cleaned
            raise ValidationError(self.read_error or _("Upload a file first."), code="no_file")
        positions: dict[str, int] = {}
        for suggestion in self.suggestions:
            key = cleaned.get(f"col_{suggestion.index}")
            if not key:
                continue
            if key in positions:
                other = self.plan.header[positions[key]]
                message = _("“%(column)s” is already fed by the file column “%(other)s”.")
                self.add_error(f"col_{suggestion.index}", message % {"column": self.spec.column(key).label, "other": other})
                continue
            positions[key] = suggestion.index
        missing = [c.label for c in self.spec.columns if c.required and c.key not in positions]
        if missing:
            raise ValidationError(
                ngettext(
                    "Choose a file column for the required column %(names)s.",
                    "Choose file columns for the required columns %(names)s.",
                    len(missing),
                )
                % {"names": ", ".join(f"“{name}”" for name in missing)},
                code="unmapped",
            )
        self.positions = positions
        return cleaned


class PreviewForm(BatchFormMixin, forms.Form):
    """Step ``preview``: nothing to enter; complete when the batch has been validated."""

    def clean(self):
        if not self.batch.is_staged:
            raise ValidationError(_("Upload a file first."), code="not_staged")
        return super().clean()


class ConfirmForm(BatchFormMixin, forms.Form):
    """Step ``confirm``: how to treat existing records and invalid rows."""

    overwrite = forms.BooleanField(
        label=_("Update existing entries with the values in the file"),
        required=False,
        initial=True,
    )
    skip_invalid = forms.BooleanField(label=_("Skip the invalid rows and import the rest"), required=False)
    #: Set by the buttons shown when entries changed after the preview: overwrite them, or keep them.
    on_changed = forms.ChoiceField(choices=UploadBatch.OnChanged.choices, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("overwrite", "skip_invalid"):
            self.fields[name].widget.attrs["aria-describedby"] = f"{self[name].auto_id}_help"

    def mark_errors(self) -> None:
        if self.non_field_errors():  # invalid rows not skipped: the choice that answers it is focused
            shown = f"{self['skip_invalid'].auto_id}_help {errors_id(self)}"
            self.fields["skip_invalid"].widget.attrs.update({"aria-describedby": shown, "autofocus": True})

    def clean(self):
        cleaned = super().clean()
        if not self.batch.is_staged:
            raise ValidationError(_("Upload a file first."), code="not_staged")
        invalid = self.batch.invalid_count
        if invalid and not cleaned.get("skip_invalid"):
            raise ValidationError(
                ngettext(
                    "%(count)d row is invalid. Fix it in the preview, or choose to skip it.",
                    "%(count)d rows are invalid. Fix them in the preview, or choose to skip them.",
                    invalid,
                )
                % {"count": invalid},
                code="invalid_rows",
            )
        return cleaned


class ValuesForm(BatchFormMixin, forms.Form):
    """Step ``values``: how each ambiguous date column is written, and what each unmatched value stands for.

    A valid form holds the choices; the wizard applies them to the staged rows (one statement per value).
    """

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.questions: list[values.DateQuestion] = []
        self.columns: list[values.ColumnValues] = []
        self.names: dict[str, tuple[str, str, str]] = {}
        if not self.batch.is_staged:
            return  # nothing staged
        _spec, scope = services.batch_scope(self.batch)
        self.questions = values.date_questions(self.batch, self.spec)
        for question in self.questions:
            self.fields[f"date_{question.column.key}"] = forms.ChoiceField(
                label=_("How are the dates in “%(column)s” written?") % {"column": question.column.label},
                choices=[(fields.DAY_FIRST, _("Day first (day/month/year)")), (fields.MONTH_FIRST, _("Month first (month/day/year)"))],
                initial=question.order,
                widget=forms.RadioSelect,
            )
        self.columns = values.unmatched_values(self.batch, self.spec, scope, user)
        for entry in self.columns:
            for value in entry.values:
                name = f"map_{entry.column.key}_{hashlib.sha1(value.text.encode(), usedforsecurity=False).hexdigest()[:12]}"
                self.names[name] = (entry.column.key, value.text, value.chosen)
                self.fields[name] = forms.ChoiceField(
                    label=value.text,
                    required=False,
                    choices=self._choices(entry, value),
                    initial=value.chosen or (value.suggestions[0] if value.suggestions else ""),
                )

    def mark_errors(self) -> None:
        for name in self.errors:
            if name in self.names:  # a value's choice; its message is beside it
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": errors_id(self[name])})

    @staticmethod
    def _choices(entry: values.ColumnValues, value: values.DistinctValue) -> list:
        labels = dict(entry.allowed)
        others = [(v, label) for v, label in entry.allowed if v not in value.suggestions][: conf_max()]
        choices: list = [("", _("Leave it invalid"))]
        if value.suggestions:
            choices.append((_("Suggested"), [(v, labels.get(v, v)) for v in value.suggestions if v in labels]))
        choices.append((_("Allowed values"), others))
        return choices

    def column_rows(self) -> list[tuple[values.ColumnValues, list[tuple[values.DistinctValue, forms.BoundField]]]]:
        """Each column with its unmatched values and their choices, for the template."""
        names = {(key, text): name for name, (key, text, _chosen) in self.names.items()}
        return [(entry, [(value, self[names[(entry.column.key, value.text)]]) for value in entry.values]) for entry in self.columns]

    def date_rows(self) -> list[tuple[values.DateQuestion, forms.BoundField]]:
        """Each ambiguous date column with its question, for the template."""
        return [(question, self[f"date_{question.column.key}"]) for question in self.questions]

    def automatic(self) -> int:
        """How many values were mapped automatically from the user's earlier choices."""
        return sum(len(chosen) for chosen in ((self.batch.value_check or {}).get("automatic") or {}).values())

    def choices(self) -> tuple[dict[str, dict[str, str]], dict[str, str] | None]:
        """What a valid form asks: column key → {text in the file → allowed value}, and the date orders (None: no question)."""
        if not self.fields:
            return {}, None
        cleaned = self.cleaned_data
        orders = {**self.batch.date_orders}
        orders.update({q.column.key: cleaned[f"date_{q.column.key}"] for q in self.questions if cleaned.get(f"date_{q.column.key}")})
        mappings: dict[str, dict[str, str]] = {}
        for name, (key, text, chosen) in self.names.items():
            target = cleaned.get(name) or ""
            if target != chosen:
                mappings.setdefault(key, {})[text] = target
        return mappings, orders


def conf_max() -> int:
    """How many allowed values a choice offers (a lookup may have thousands)."""
    from . import conf

    return conf.get("LOOKUP_DROPDOWN_MAX_VALUES")
