"""What every bench case shares: Django set up on the bench database, the timesheet files, a clean slate."""

from __future__ import annotations

import datetime
import io
import os
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "var" / "bench"
HEADER = ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]
ACTIVITIES = ("Development", "Design", "Meeting", "Support", "Admin")
# Days far enough back that no lock date or "future" rule interferes.
FIRST_DAY = datetime.date(2024, 1, 1)


def setup_django() -> None:
    """Django on the bench database (``DATABASE_URL``), DEBUG off so no query log grows."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("BULKUPLOAD_FILE_ROOT", str(FILES / "uploads"))
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def people() -> tuple[list[str], list[str]]:
    from project.timesheets.models import Employee, Project, Tenant

    acme = Tenant.objects.get(name="Acme")
    emails = list(Employee.objects.filter(tenant=acme).order_by("pk").values_list("email", flat=True))
    codes = list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True))
    return emails, codes


def rows(count: int, *, variant: int, emails: list[str], codes: list[str]) -> list[list]:
    """``count`` rows with distinct natural keys; ``variant`` 1 changes hours, billable and note of variant 0."""
    per_day = len(emails) * len(codes)
    out = []
    for i in range(count):
        day = FIRST_DAY + datetime.timedelta(days=i // per_day)
        employee = emails[i % len(emails)]
        project = codes[(i // len(emails)) % len(codes)]
        hours = 0.5 + 0.25 * ((i + variant) % 3)
        billable = "yes" if (i + variant) % 2 else "no"
        note = f"task {i}" if variant == 0 else f"task {i} (revised)"
        out.append([employee, datetime.datetime.combine(day, datetime.time()), project, hours, billable, ACTIVITIES[i % 5], note])
    return out


def timesheet_file(count: int, variant: int = 0) -> Path:
    """The bench's .xlsx of ``count`` rows, written once with openpyxl and kept in var/bench/."""
    path = FILES / f"timesheet-{count}-v{variant}.xlsx"
    if path.exists():
        return path
    from openpyxl import Workbook

    FILES.mkdir(parents=True, exist_ok=True)
    emails, codes = people()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Entries")
    sheet.append(HEADER)
    for row in rows(count, variant=variant, emails=emails, codes=codes):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.rename(path)
    return path


def reset() -> None:
    """No entries and no uploads: every case starts from the same empty tenant."""
    from django.db import connection

    from bulkupload.models import UploadBatch
    from project.timesheets.models import Entry

    Entry.objects.all().delete()
    UploadBatch.objects.all().delete()
    if connection.vendor == "postgresql":
        # What autovacuum does in a live database: without it, each run's deleted rows pile up
        # (gigabytes after a few 100,000-row runs) and every later run measures the bloat.
        with connection.cursor() as cursor:
            for table in (Entry._meta.db_table, "bulkupload_uploadrow", UploadBatch._meta.db_table):
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")
