"""What the API accepts (input serializers) and, for the OpenAPI schema, what it answers.

Answers are built by :mod:`.representation`; the ``*Out`` serializers below only
describe them for the schema, and the schema tests check every answer against them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import UploadRow
from .answers import DATE_ORDERS
from .representation import UPLOAD_STATUSES

MAX_CELL = 10_000  # as the preview's fix form


# --- requests ----------------------------------------------------------------------------


class UploadCreateIn(serializers.Serializer):
    file = serializers.FileField(help_text=_("An .xlsx workbook or a .csv file."), allow_empty_file=True)
    sheet = serializers.CharField(required=False, allow_blank=True, max_length=255, help_text=_("The workbook's sheet to read."))
    mapping = serializers.JSONField(
        required=False,
        binary=True,
        help_text=_("JSON object: file header → column key, or null to ignore the column (as POST columns/ takes it)."),
    )

    def validate_mapping(self, value: object) -> dict[str, str | None]:
        return ColumnsIn(data={"mapping": value}).validated_mapping()


class ColumnsIn(serializers.Serializer):
    mapping = serializers.DictField(
        child=serializers.CharField(allow_null=True, allow_blank=True, max_length=100),
        help_text=_("File header → column key, or null to ignore it. Headers left out take the suggested column."),
    )
    sheet = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validated_mapping(self) -> dict[str, str | None]:
        self.is_valid(raise_exception=True)
        return {str(header): key or None for header, key in self.validated_data["mapping"].items()}


class RowPatchIn(serializers.Serializer):
    values = serializers.DictField(
        child=serializers.CharField(allow_blank=True, allow_null=True, max_length=MAX_CELL, trim_whitespace=True),
        help_text=_("Column key → the new cell text; columns left out keep their cells."),
    )
    version = serializers.IntegerField(min_value=0, max_value=2**31 - 1, help_text=_("The row's version as last read."))


class ValuesIn(serializers.Serializer):
    dates = serializers.DictField(
        child=serializers.ChoiceField(choices=DATE_ORDERS),
        required=False,
        default=dict,
        help_text=_("Date column key → how its dates are written: dmy (day first) or mdy (month first)."),
    )
    values = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_null=True, allow_blank=True, max_length=MAX_CELL)),
        required=False,
        default=dict,
        help_text=_("Column key → {value in the file → allowed value, or null to leave it invalid}. Values left out stay as they are."),
    )


class ConfirmIn(serializers.Serializer):
    overwrite = serializers.BooleanField(default=True, help_text=_("Update existing records with the file's values."))
    skip_invalid = serializers.BooleanField(default=False, help_text=_("Skip the invalid rows and apply the rest."))


class RollbackIn(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text=_("Roll back even the records changed since, overwriting those changes."))


class RowsQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=UploadRow.Status.values, required=False)
    outcome = serializers.ChoiceField(choices=[value for value in UploadRow.Outcome.values if value], required=False)
    page = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, default=1)
    # Larger sizes are served as BULKUPLOAD["API_MAX_PAGE_SIZE"].
    page_size = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


# --- answers (for the schema) --------------------------------------------------------------


class ColumnOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.CharField())
    help_text = serializers.CharField(allow_blank=True)
    format = serializers.CharField(allow_blank=True)


class SpecOut(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    columns = ColumnOut(many=True)
    template = serializers.CharField()
    uploads = serializers.CharField()


class CountsOut(serializers.Serializer):
    new = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()


class ProgressOut(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)


class DateExampleOut(serializers.Serializer):
    text = serializers.CharField()
    dmy = serializers.DateField(allow_null=True, help_text=_("The text read day first (null: not a day)."))
    mdy = serializers.DateField(allow_null=True, help_text=_("The text read month first (null: not a day)."))


class DateQuestionOut(serializers.Serializer):
    column = serializers.CharField()
    label = serializers.CharField()
    order = serializers.ChoiceField(choices=DATE_ORDERS, help_text=_("How the column is read now: the answer, else the locale's way."))
    examples = DateExampleOut(many=True)


class UnmatchedValueOut(serializers.Serializer):
    text = serializers.CharField()
    count = serializers.IntegerField(help_text=_("How many rows have it."))
    suggestions = serializers.ListField(child=serializers.CharField(), help_text=_("Allowed values it may stand for, best first."))
    chosen = serializers.CharField(allow_null=True, help_text=_("The allowed value it is mapped to now (null: left invalid)."))


class AllowedValueOut(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class ValueColumnOut(serializers.Serializer):
    column = serializers.CharField()
    label = serializers.CharField()
    values = UnmatchedValueOut(many=True)
    more = serializers.IntegerField(help_text=_("Further unmatched values, not listed."))
    allowed = AllowedValueOut(many=True)
    allowed_more = serializers.IntegerField(help_text=_("Further allowed values, not listed."))


class QuestionsOut(serializers.Serializer):
    pending = serializers.BooleanField(help_text=_("Whether the wizard would ask these before the preview, and nobody answered."))
    answered = serializers.BooleanField()
    remembered = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text=_("Values mapped automatically as the user mapped them before: column key → {text → allowed value}."),
    )
    dates = DateQuestionOut(many=True)
    values = ValueColumnOut(many=True)


class UploadOut(serializers.Serializer):
    id = serializers.UUIDField()
    spec = serializers.CharField()
    file_name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=UPLOAD_STATUSES)
    counts = CountsOut()
    progress = ProgressOut()
    batch = serializers.UUIDField(allow_null=True)
    total_rows = serializers.IntegerField()
    sheet = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    questions = QuestionsOut(help_text=_("Dates and values the file leaves open; answer with POST values/."))


class RowOut(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=UploadRow.Status.values)
    values = serializers.DictField(child=serializers.CharField(allow_blank=True))
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    old = serializers.DictField(child=serializers.CharField(allow_blank=True))
    version = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=UploadRow.Outcome.values, allow_blank=True)


class RowPageOut(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = RowOut(many=True)


class ReceiptCountsOut(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    total = serializers.IntegerField()


class ReceiptOut(serializers.Serializer):
    id = serializers.UUIDField()
    upload = serializers.UUIDField()
    spec = serializers.CharField()
    file_name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=UPLOAD_STATUSES)
    overwrite = serializers.BooleanField()
    skip_invalid = serializers.BooleanField()
    counts = ReceiptCountsOut()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    applied_at = serializers.DateTimeField(allow_null=True)
    rolled_back_at = serializers.DateTimeField(allow_null=True)


class ConfirmOut(serializers.Serializer):
    applied = serializers.BooleanField(help_text=_("Whether this request applied (or queued) the batch; false for a repeat."))
    batch = ReceiptOut()


class RollbackOut(serializers.Serializer):
    rolled_back = serializers.BooleanField(help_text=_("Whether this request rolled the batch back; false for a repeat."))
    batch = ReceiptOut()


class FileColumnOut(serializers.Serializer):
    header = serializers.CharField(allow_blank=True)
    suggestion = serializers.CharField(allow_null=True)
    samples = serializers.ListField(child=serializers.CharField(allow_blank=True))


class ColumnsOut(serializers.Serializer):
    sheet = serializers.CharField(allow_null=True)
    sheets = serializers.ListField(child=serializers.CharField())
    columns = FileColumnOut(many=True)
    spec_columns = ColumnOut(many=True)


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    sheet = serializers.CharField(allow_null=True)
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True, required=False)
    file = serializers.CharField(allow_null=True, required=False)


class ErrorsOut(serializers.Serializer):
    errors = ErrorOut(many=True)


class DetailOut(serializers.Serializer):
    detail = serializers.CharField()


class ConflictOut(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    rows = serializers.ListField(child=serializers.IntegerField(), required=False)
    invalid = serializers.IntegerField(required=False)
    columns = serializers.ListField(child=serializers.CharField(), required=False)
