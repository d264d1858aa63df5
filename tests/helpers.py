"""Test helpers: real files written by openpyxl and csv, and a walk through the wizard as separate requests."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass, field

from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from bulkupload import progress
from bulkupload.models import UploadBatch

SPEC = "timesheet-entries"
HEADER = ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]


def xlsx_file(rows: list[list], header: list[str] | None = HEADER, *, sheet_title: str = "Entries") -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title
    if header is not None:
        sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_file(rows: list[list], header: list[str] | None = HEADER, *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def fill_template(template: bytes, rows: list[list]) -> bytes:
    """Fill the downloaded template's first sheet as a person would in Excel."""
    book = load_workbook(io.BytesIO(template))
    sheet = book.worksheets[0]
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def session_row(client: Client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


@dataclass
class Wizard:
    """One upload walked through the wizard, each step a separate HTTP request."""

    client: Client
    spec: str = SPEC
    upload_id: str = ""
    responses: list = field(default_factory=list)

    def start(self) -> Wizard:
        response = self.client.post(reverse("bulkupload:start", kwargs={"spec": self.spec}))
        assert response.status_code == 302, response
        match = re.search(r"/([0-9a-f-]{36})/upload/$", response["Location"])
        assert match, response["Location"]
        self.upload_id = match.group(1)
        return self

    def url(self, step: str) -> str:
        return reverse("bulkupload:wizard", kwargs={"spec": self.spec, "upload_id": self.upload_id, "step": step})

    @property
    def prefix(self) -> str:
        return f"bulkupload_{self.upload_id}"

    def batch(self) -> UploadBatch:
        return UploadBatch.objects.get(pk=self.upload_id)

    def post_step(self, step: str, data: dict | None = None, **kwargs):
        payload = {f"{self.prefix}-current_step": step, **(data or {})}
        response = self.client.post(self.url(step), payload, **kwargs)
        self.responses.append(response)
        return response

    def upload(self, content: bytes, name: str = "entries.xlsx"):
        upload = io.BytesIO(content)
        upload.name = name
        return self.post_step("upload", {"upload-file": upload})

    def preview(self, **query):
        return self.client.get(self.url("preview"), query)

    def to_confirm(self):
        return self.post_step("preview")

    def confirm(self, *, overwrite: bool = True, skip_invalid: bool = False):
        data = {}
        if overwrite:
            data["confirm-overwrite"] = "on"
        if skip_invalid:
            data["confirm-skip_invalid"] = "on"
        return self.post_step("confirm", data)

    def run(self, content: bytes, name: str = "entries.xlsx", **confirm_options):
        """Upload, preview, go to confirm and confirm; return the last response."""
        response = self.upload(content, name)
        assert response.status_code == 302 and response["Location"].endswith("/preview/"), _explain(response)
        assert self.preview().status_code == 200
        response = self.to_confirm()
        assert response.status_code == 302 and response["Location"].endswith("/confirm/"), _explain(response)
        return self.confirm(**confirm_options)


def _explain(response) -> str:
    if response.status_code == 200 and hasattr(response, "context") and response.context:
        form = response.context.get("form")
        return f"form errors: {getattr(form, 'errors', None)}"
    return f"{response.status_code} {response.get('Location', '')}"


def worker_died(batch_id, *, phase: str, silent_for: float) -> None:
    """What a task worker leaves behind when it is killed: its last progress report, ``silent_for`` seconds ago."""
    with progress.tracking(progress.file_listener(batch_id)):
        progress.start(phase, 60)
        progress.advance(20)
    heard = time.time() - silent_for
    os.utime(progress._path(batch_id), (heard, heard))
