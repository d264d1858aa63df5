"""The wizard's forms. They translate requests into service calls; services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
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
            services.stage_upload(self.batch, upload, name=upload.name)
        except FileRejected as exc:
            raise ValidationError(str(exc), code="rejected") from None
        except BatchNotReady as exc:
            raise ValidationError(str(exc), code="final") from None
        return None


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
