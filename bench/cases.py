"""The measured cases, each run in a fresh process by bench/pipeline.py: ours, django-import-export, the floor.

Every case prints one JSON line with its timings and the process's peak RSS.
"""

from __future__ import annotations

import datetime
import shutil
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from common import people, rows


def alice():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="alice")


def acme():
    from project.timesheets.models import Tenant

    return Tenant.objects.get(name="Acme")


# --- ours: the wizard, request by request -------------------------------------------------


def ours(path: Path, count: int) -> dict:
    """Upload → preview ready → confirm through the real wizard (test client, DB sessions, DEBUG off)."""
    from django.contrib.sessions.models import Session
    from django.test import Client
    from django.urls import reverse

    from bulkupload.models import UploadBatch

    client = Client()
    client.force_login(alice())
    started, started_cpu = time.perf_counter(), time.process_time()
    response = client.post(reverse("bulkupload:start", kwargs={"spec": "timesheet-entries"}))
    upload_id = response["Location"].rstrip("/").split("/")[-2]

    def url(step: str) -> str:
        return reverse("bulkupload:wizard", kwargs={"spec": "timesheet-entries", "upload_id": upload_id, "step": step})

    prefix = f"bulkupload_{upload_id}"
    response = post_file(client, url("upload"), {f"{prefix}-current_step": "upload"}, "upload-file", path)
    assert response.status_code == 302 and response["Location"].endswith("/preview/"), (response.status_code, response.get("Location"))
    assert client.get(url("preview")).status_code == 200
    preview_ready, preview_cpu = time.perf_counter(), time.process_time()
    batch = UploadBatch.objects.get(pk=upload_id)
    assert batch.invalid_count == 0 and batch.total_rows == count, (batch.invalid_count, batch.total_rows)
    session_bytes = len(Session.objects.get(session_key=client.session.session_key).session_data)
    first_page = _page_ms(client, url("preview"), {})
    last_page = _page_ms(client, url("preview"), {"page": str(-(-count // 50))})
    confirm_started, confirm_cpu = time.perf_counter(), time.process_time()
    assert client.post(url("preview"), {f"{prefix}-current_step": "preview"}).status_code == 302
    response = client.post(url("confirm"), {f"{prefix}-current_step": "confirm", "confirm-overwrite": "on"})
    done, done_cpu = time.perf_counter(), time.process_time()
    batch.refresh_from_db()
    assert response.status_code == 302 and batch.created_count + batch.updated_count == count, (response.status_code, batch.created_count)
    return {
        "phase1": preview_ready - started,
        "phase2": done - confirm_started,
        # CPU seconds of this process (its threads too; SQLite works in-process, PostgreSQL's server is not counted).
        "cpu1": preview_cpu - started_cpu,
        "cpu2": done_cpu - confirm_cpu,
        "session_bytes": session_bytes,
        "first_page_ms": first_page,
        "last_page_ms": last_page,
    }


def post_file(client, url: str, fields: dict[str, str], name: str, path: Path):
    """POST ``fields`` and the file at ``path`` as a browser does, the body streamed from disk as a server reads it.

    The test client's own multipart encoding holds the whole body (and the file) in memory, which a server receiving
    the upload never does: with it, the process's peak memory would be the client's, not the upload's.
    """
    boundary = "BenchBoundary7c1f0e"
    with tempfile.TemporaryFile() as body:
        for key, value in fields.items():
            body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
        body.write((head + "Content-Type: application/octet-stream\r\n\r\n").encode())
        with path.open("rb") as source:
            shutil.copyfileobj(source, body)
        body.write(f"\r\n--{boundary}--\r\n".encode())
        size = body.tell()
        body.seek(0)
        environ = {"wsgi.input": body, "CONTENT_LENGTH": str(size), "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}"}
        return client.generic("POST", url, **environ)


def _page_ms(client, url: str, query: dict) -> float:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert client.get(url, query).status_code == 200
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


# --- django-import-export 4.4: dry run, then confirm ---------------------------------------


def import_export(path: Path, count: int, *, bulk: bool) -> dict:
    """A ModelResource keyed on (employee, date, project) with foreign-key widgets; the admin's dry run then confirm."""
    resource_class = _entry_resource(acme(), bulk=bulk)
    started = time.perf_counter()
    result = resource_class().import_data(_dataset(path), dry_run=True, use_transactions=True)
    assert not result.has_errors() and not result.has_validation_errors(), _first_error(result)
    dry_run_done = time.perf_counter()
    result = resource_class().import_data(_dataset(path), dry_run=False, use_transactions=True)
    done = time.perf_counter()
    assert not result.has_errors() and not result.has_validation_errors(), _first_error(result)
    from project.timesheets.models import Entry

    assert Entry.objects.filter(tenant=acme()).count() == count
    return {"phase1": dry_run_done - started, "phase2": done - dry_run_done}


def _dataset(path: Path):
    import tablib

    with path.open("rb") as handle:
        return tablib.Dataset().load(handle.read(), format="xlsx")


def _first_error(result) -> str:
    for row in result.rows:
        if row.errors or row.validation_error:
            return str(row.errors[0].error if row.errors else row.validation_error)[:500]
    return ""


def _entry_resource(tenant, *, bulk: bool):
    from import_export import fields, resources, widgets

    from project.timesheets.models import Employee, Entry, Project

    class TenantForeignKeyWidget(widgets.ForeignKeyWidget):
        def get_queryset(self, value, row, *args, **kwargs):
            return self.model.objects.filter(tenant=tenant)

    class YesNoWidget(widgets.BooleanWidget):
        TRUE_VALUES = [*widgets.BooleanWidget.TRUE_VALUES, "yes"]
        FALSE_VALUES = [*widgets.BooleanWidget.FALSE_VALUES, "no"]

    class EntryResource(resources.ModelResource):
        employee = fields.Field("employee", "Employee email", widget=TenantForeignKeyWidget(Employee, field="email"))
        date = fields.Field("date", "Date", widget=widgets.DateWidget())
        project = fields.Field("project", "Project code", widget=TenantForeignKeyWidget(Project, field="code"))
        hours = fields.Field("hours", "Hours", widget=widgets.DecimalWidget())
        billable = fields.Field("billable", "Billable", widget=YesNoWidget())
        activity = fields.Field("activity", "Activity")
        note = fields.Field("note", "Note")

        class Meta:
            model = Entry
            import_id_fields = ("employee", "date", "project")
            fields = ("employee", "date", "project", "hours", "billable", "activity", "note")
            use_bulk = bulk
            batch_size = 1000

        def get_queryset(self):
            return Entry.objects.filter(tenant=tenant)

        def before_save_instance(self, instance, row, **kwargs):
            instance.tenant = tenant

    return EntryResource


# --- the floor: read the file, one bulk create -------------------------------------------------


def floor(path: Path, count: int) -> dict:
    """Read the file with openpyxl (read-only, values) and bulk-create the entries: no checks, no staging."""
    import openpyxl

    from project.timesheets.models import Employee, Entry, Project

    tenant = acme()
    employees = dict(Employee.objects.filter(tenant=tenant).values_list("email", "pk"))
    projects = dict(Project.objects.filter(tenant=tenant).values_list("code", "pk"))
    started = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    entries = []
    for email, day, code, hours, billable, activity, note in book.worksheets[0].iter_rows(min_row=2, values_only=True):
        entries.append(
            Entry(
                tenant=tenant,
                employee_id=employees[email],
                date=day.date() if isinstance(day, datetime.datetime) else day,
                project_id=projects[code],
                hours=Decimal(str(hours)),
                billable=billable == "yes",
                activity=activity,
                note=note or "",
            )
        )
    book.close()
    read = time.perf_counter()
    Entry.objects.bulk_create(entries)
    done = time.perf_counter()
    assert len(entries) == count
    return {"phase1": read - started, "phase2": done - read}


def calamine_read(path: Path, count: int) -> dict:
    """Only reading the file's values, with python-calamine, for comparison with the floor's openpyxl read."""
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    with path.open("rb") as handle:
        book = CalamineWorkbook.from_filelike(handle)
        values = list(book.get_sheet_by_index(0).iter_rows())
    assert len(values) == count + 1
    return {"phase1": time.perf_counter() - started, "phase2": 0.0}


def preload(path: Path, count: int) -> dict:
    """Untimed set-up for the update cases: the entries of the file's first version, so every row becomes an update."""
    from project.timesheets.models import Employee, Entry, Project

    tenant = acme()
    emails, codes = people()
    employees = dict(Employee.objects.filter(tenant=tenant).values_list("email", "pk"))
    projects = dict(Project.objects.filter(tenant=tenant).values_list("code", "pk"))
    batch = []
    for email, day, code, hours, billable, activity, note in rows(count, variant=0, emails=emails, codes=codes):
        batch.append(
            Entry(
                tenant=tenant,
                employee_id=employees[email],
                date=day.date(),
                project_id=projects[code],
                hours=Decimal(str(hours)),
                billable=billable == "yes",
                activity=activity,
                note=note,
            )
        )
        if len(batch) == 5000:
            Entry.objects.bulk_create(batch)
            batch = []
    Entry.objects.bulk_create(batch)
    return {}
