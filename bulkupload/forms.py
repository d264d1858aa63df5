"""The wizard's forms. They translate requests into service calls; services do the writing."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import background, mapping, services
from .exceptions import BatchNotReady, FileRejected
from .models import UploadBatch
from .spec import UploadSpec


class BatchFormMixin:
    def __init__(self, *args: Any, batch: UploadBatch, spec: UploadSpec, **kwargs: Any) -> None:
        self.batch = batch
        self.spec = spec
        super().__init__(*args, **kwargs)


class UploadForm(BatchFormMixin, forms.Form):
    """Step ``upload``: choose the file. A valid form means the batch holds the file's rows."""

    file = forms.FileField(
        label=_("Spreadsheet"),
        # The reader says "The file is empty." with the file's name.
        allow_empty_file=True,
        help_text=_("An Excel workbook (.xlsx) or a CSV file, with the template's header in the first row."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,text/csv"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Once staged, the upload step is complete without a file in this request.
        self.fields["file"].required = not self.batch.is_staged

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if not upload:
            return None
        try:
            plan = mapping.plan_upload(self.spec, upload, name=upload.name)
            if plan.automatic:
                background.stage_upload(self.batch, upload, name=upload.name, sheet=plan.sheet, plan=plan.as_json())
            else:
                # Headers that do not all match, or a choice of sheets: the columns step asks, from the plan kept here.
                services.hold_upload(self.batch, upload, name=upload.name, sheet=plan.sheet, plan=plan.as_json())
        except FileRejected as exc:
            raise ValidationError(str(exc), code="rejected") from None
        except BatchNotReady as exc:
            raise ValidationError(str(exc), code="final") from None
        return None


class ColumnsForm(BatchFormMixin, forms.Form):
    """Step ``columns``: which sheet to read and which file column feeds which spec column.

    One choice per file column, the suggestion (remembered, exact, normalised, fuzzy)
    preselected; a required column left without a file column blocks the step.
    """

    def __init__(self, *args: Any, user: Any = None, sheet: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.plan: mapping.FilePlan | None = None
        self.suggestions: list[mapping.Suggestion] = []
        self.read_error = ""
        if (self.is_bound and not self.data) or not self.batch.source_file:
            return  # revalidating a completed step, or no file yet
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
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"{self[name].auto_id}_err"})

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
        if self.errors:
            return cleaned
        try:
            background.stage_held_upload(self.batch, sheet=self.plan.sheet, positions=positions)
        except FileRejected as exc:
            raise ValidationError(str(exc), code="rejected") from None
        except BatchNotReady as exc:
            raise ValidationError(str(exc), code="not_ready") from None
        if self.user is not None:
            mapping.remember_mapping(self.user, self.spec, self.plan.header, positions)
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


class RowFixForm(forms.Form):
    """The cells of one invalid row, editable in the preview."""

    row = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, spec: UploadSpec, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for column in spec.columns:
            self.fields[column.key] = forms.CharField(
                label=column.label,
                required=False,
                max_length=10_000,
                strip=True,
                widget=forms.TextInput(attrs={"class": "cell-input"}),
            )


class BaseRowFixFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, spec: UploadSpec, **kwargs: Any) -> None:
        self.spec = spec
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {"spec": self.spec}

    def edits(self) -> dict[int, dict[str, str]]:
        """Row id → the cells the user changed."""
        edits = {}
        for form in self.forms:
            if form.has_changed():
                cells = {c.key: form.cleaned_data.get(c.key, "") for c in self.spec.columns}
                edits[form.cleaned_data["row"]] = cells
        return edits


RowFixFormSet = forms.formset_factory(RowFixForm, formset=BaseRowFixFormSet, extra=0, max_num=500, validate_max=True)
