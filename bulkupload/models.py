"""The upload's state: one :class:`UploadBatch` per upload, one :class:`UploadRow` per file row.

Everything the wizard needs between requests lives here, never only in the
session. Only :mod:`bulkupload.services` changes these tables.
"""

import os
import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import conf


class PrivateUploadStorage(FileSystemStorage):
    """Uploaded files, kept in ``BULKUPLOAD["FILE_ROOT"]``: outside public media, with no URL."""

    @property
    def base_location(self) -> str:
        return conf.get("FILE_ROOT")

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Uploaded spreadsheets are private and have no URL.")


def private_storage() -> PrivateUploadStorage:
    return PrivateUploadStorage()


def upload_file_path(instance: "UploadBatch", filename: str) -> str:
    return f"{instance.pk}/source{_suffix(filename)}"


def _suffix(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower()[:10] if "." in name else ""


class UploadBatch(models.Model):
    """One upload: its file, where it stands, and its counts."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Waiting for a file")
        #: The file is being read and checked by a background task.
        STAGING = "staging", _("Being read")
        READY = "ready", _("Ready to confirm")
        #: Confirmed; a background task is writing the rows.
        APPLYING = "applying", _("Being applied")
        APPLIED = "applied", _("Applied")
        ROLLED_BACK = "rolled_back", _("Rolled back")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_batches")
    spec = models.CharField(_("upload type"), max_length=100, db_index=True)
    scope_key = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)

    source_file = models.FileField(storage=private_storage, upload_to=upload_file_path, blank=True, max_length=255)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    sheet_name = models.CharField(max_length=255, blank=True)
    header_row = models.PositiveIntegerField(default=1)
    #: The file's header for each column key, so messages can name the user's own header.
    headers = models.JSONField(default=dict, blank=True)
    ignored_headers = models.JSONField(default=list, blank=True)
    #: The file's headers did not all match, or the workbook has several sheets: the wizard asks.
    needs_columns = models.BooleanField(default=False)
    #: How to read the file, made once at upload (``mapping.FilePlan.as_json``): sheets, headers, samples, row counts.
    plan = models.JSONField(default=dict, blank=True)
    #: The text encoding a CSV file was read in ("" for a workbook).
    encoding = models.CharField(max_length=40, blank=True)
    #: The values step (``services.values.prepare_values``): ``ready`` once looked at after staging, ``step`` whether the wizard shows
    #: it, ``dates`` (column key → "dmy"/"mdy"), ``asked`` (date columns the file cannot tell), ``applied``
    #: (column key → {text in the file: value written}), ``done`` once the user confirmed the step. {} after each staging.
    value_check = models.JSONField(default=dict, blank=True)
    #: Rows read from the next file start at this version or above: kept while a file is held unread (its rows
    #: gone), so that a version handed out for an earlier file's row is never valid for a later one's.
    next_row_version = models.PositiveIntegerField(default=0, editable=False)

    total_rows = models.PositiveIntegerField(default=0)
    new_count = models.PositiveIntegerField(default=0)
    update_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)

    class OnChanged(models.TextChoices):
        """What confirming does with a record someone changed after the preview showed it."""

        STOP = "", _("Stop and show them")
        OVERWRITE = "overwrite", _("Overwrite them")
        SKIP = "skip", _("Keep them")

    overwrite = models.BooleanField(default=True)
    skip_invalid = models.BooleanField(default=False)
    #: The user's choice for records changed since the preview (a queued apply reads it).
    on_changed = models.CharField(max_length=10, choices=OnChanged.choices, default=OnChanged.STOP, blank=True)
    #: Entries a queued apply found changed since the preview, so it wrote nothing; the confirm page asks what to do.
    changed_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)

    #: The background task working on the batch, and why its last one failed (blank: it did not).
    task_id = models.CharField(max_length=64, blank=True)
    task_error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("upload batch")
        verbose_name_plural = _("upload batches")
        indexes = [models.Index(fields=["owner", "-created_at"], name="bulkupload_batch_owner")]

    def __str__(self) -> str:
        return f"{self.file_name or _('(no file yet)')} · {self.get_status_display()}"

    def get_encoding_display(self) -> str:
        """The CSV file's encoding for people ("Windows-1252")."""
        from .reading.text import encoding_label

        return encoding_label(self.encoding)

    @property
    def is_staged(self) -> bool:
        return self.status == self.Status.READY

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.APPLIED, self.Status.ROLLED_BACK)

    @property
    def is_working(self) -> bool:
        """A background task is reading or applying the batch."""
        return self.status in (self.Status.STAGING, self.Status.APPLYING)

    @property
    def date_orders(self) -> dict[str, str]:
        """Column key → how its text dates are read ("dmy" day-first, "mdy" month-first); absent: the default formats."""
        return dict((self.value_check or {}).get("dates") or {})

    @property
    def valid_count(self) -> int:
        return self.new_count + self.update_count + self.unchanged_count

    def count_of(self, status: str) -> int:
        """How many of the rows have ``status`` (an ``UploadRow.Status``; "" for all), from the counts kept here."""
        field = COUNT_FIELDS.get(status)
        return getattr(self, field) if field else self.total_rows


class UploadRow(models.Model):
    """One data row of the file: what the user wrote, what we made of it, what happened to it."""

    class Status(models.TextChoices):
        NEW = "new", _("New")
        UPDATE = "update", _("Update")
        UNCHANGED = "unchanged", _("Unchanged")
        INVALID = "invalid", _("Invalid")
        #: Left out by the user: neither applied nor counted invalid (validation and file rules pass it by).
        EXCLUDED = "excluded", _("Excluded")

    class Outcome(models.TextChoices):
        PENDING = "", _("Not applied")
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        UNCHANGED = "unchanged", _("Unchanged")
        SKIPPED = "skipped", _("Skipped")
        KEPT = "kept", _("Kept existing")

    # No index of its own: every index of the table starts with the batch (each inserted row costs one index less).
    batch = models.ForeignKey(UploadBatch, on_delete=models.CASCADE, related_name="rows", db_index=False)
    row_number = models.PositiveIntegerField(_("row"))
    #: The cells as the user wrote them, keyed by column key.
    values = models.JSONField(default=dict)
    #: Model values of a row that passed row validation (JSON-encoded).
    data = models.JSONField(null=True, blank=True)
    natural_key = models.CharField(max_length=255, blank=True)
    #: Row-level errors by column key (``NON_FIELD_ERRORS``, "__all__", for the row as a whole).
    errors = models.JSONField(default=dict, blank=True)
    #: Errors from rules over the whole file (duplicates, daily totals).
    file_errors = models.JSONField(default=dict, blank=True)
    has_file_errors = models.BooleanField(default=False)
    #: The row's fate by row validation and matching alone.
    match = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    #: The row's fate with file rules applied: what the preview shows.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    target_pk = models.CharField(max_length=64, blank=True, default="")
    #: For updates: the existing record's cells that the row changes, keyed by column key.
    changes = models.JSONField(default=dict, blank=True)
    #: For matched rows: the record's values the preview saw where they differ from ``data`` (JSON-encoded model
    #: values; ``{}`` when the record equalled the row). Confirming compares the record with them.
    seen = models.JSONField(null=True, blank=True)
    #: Model values of the record before the batch wrote it, for rollback.
    previous = models.JSONField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING, blank=True)
    #: Raised by one on every write of the row's cells: a client that fixes a row names the version it saw.
    version = models.PositiveIntegerField(default=0)
    #: Cells a value mapping replaced: column key → the text as the file had it (None when nothing was mapped), so a
    #: mapping can be changed or undone later.
    originals = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["row_number"]
        # Its index is also the one chunks are read by, in file order (keyset pagination): one index range per chunk.
        constraints = [models.UniqueConstraint(fields=["batch", "row_number"], name="bulkupload_row_unique_number")]
        indexes = [
            models.Index(fields=["batch", "status", "row_number"], name="bulkupload_row_status"),
            models.Index(fields=["batch", "natural_key"], name="bulkupload_row_key"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number} ({self.status})"

    def all_errors(self) -> dict[str, list[str]]:
        merged: dict[str, list[str]] = {}
        for source in (self.errors, self.file_errors):
            for key, messages in (source or {}).items():
                merged.setdefault(key, []).extend(messages)
        return merged


#: The row status → the ``UploadBatch`` field that counts its rows (excluded rows are counted by none).
COUNT_FIELDS = {
    UploadRow.Status.NEW: "new_count",
    UploadRow.Status.UPDATE: "update_count",
    UploadRow.Status.UNCHANGED: "unchanged_count",
    UploadRow.Status.INVALID: "invalid_count",
}


class RememberedMapping(models.Model):
    """The columns a user last chose for a spec's files, suggested first on the next upload."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    spec = models.CharField(max_length=100)
    #: Normalised file header → column key ("" when the user chose to ignore it).
    choices = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "spec"], name="bulkupload_mapping_owner_spec")]

    def __str__(self) -> str:
        return f"{self.owner} · {self.spec}"


class RememberedValues(models.Model):
    """The values a user last mapped for a spec's columns, applied automatically to their next upload."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    spec = models.CharField(max_length=100)
    #: Column key → {normalised text in a file → the allowed value it stands for}.
    choices = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "spec"], name="bulkupload_values_owner_spec")]

    def __str__(self) -> str:
        return f"{self.owner} · {self.spec}"


class WebhookDelivery(models.Model):
    """One attempt to deliver a webhook event about a batch, as the receiver answered it."""

    batch = models.ForeignKey(UploadBatch, on_delete=models.CASCADE, related_name="webhook_deliveries")
    #: The event's id: the same for every attempt to deliver it, so receivers can ignore repeats.
    event_id = models.UUIDField(_("event id"))
    event = models.CharField(_("event"), max_length=40)
    url = models.URLField(_("URL"), max_length=500)
    attempt = models.PositiveSmallIntegerField(_("attempt"))
    #: The receiver's HTTP status; None when it did not answer (refused, timed out).
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "attempt"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["batch", "created_at"], name="bulkupload_webhook_batch")]

    def __str__(self) -> str:
        return f"{self.event} → {self.url} #{self.attempt}: {self.status_code or self.error[:40]}"

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
