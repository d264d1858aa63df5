"""What deciding "ask for columns or not" costs at upload, next to reading the whole file.

    .venv/bin/python bench/columns_plan.py

``mapping.plan_upload`` opens the workbook to list its sheets and read each
sheet's header and first rows. Files saved by Excel declare their size
(``<dimension>``), so opening is cheap; files without it (openpyxl's write-only
mode, some exporters) make openpyxl parse the whole sheet at every open.
"""

from __future__ import annotations

import datetime
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django

django.setup()

from openpyxl import Workbook  # noqa: E402

from bulkupload import mapping  # noqa: E402
from bulkupload.reading import open_table  # noqa: E402
from bulkupload.spec import get_spec  # noqa: E402

HEADER = ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]


def workbook(rows: int, *, dimension: bool) -> bytes:
    book = Workbook(write_only=not dimension)
    sheet = book.active if dimension else book.create_sheet("Entries")
    sheet.append(HEADER)
    for i in range(rows):
        day = datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 300)
        sheet.append([f"user{i % 300}@acme.example", day, f"P-{i % 19:03d}", 7.5, "yes", "Development", f"note {i}"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def main() -> None:
    spec = get_spec("timesheet-entries")
    print("| file | rows | size | plan_upload | full read |")
    print("|---|---:|---:|---:|---:|")
    for dimension in (True, False):
        for rows in (10_000, 50_000):
            data = io.BytesIO(workbook(rows, dimension=dimension))
            start = time.perf_counter()
            mapping.plan_upload(spec, data, name="bench.xlsx")
            plan = time.perf_counter() - start
            start = time.perf_counter()
            table = open_table(data, name="bench.xlsx")
            sum(1 for _ in table.rows)
            read = time.perf_counter() - start
            kind = "with <dimension>" if dimension else "no <dimension>"
            print(f"| {kind} | {rows:,} | {len(data.getvalue()) / 1e6:.1f} MB | {plan * 1000:,.0f} ms | {read * 1000:,.0f} ms |")


if __name__ == "__main__":
    main()
