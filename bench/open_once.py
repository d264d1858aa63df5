"""What the wizard's upload step costs in CPU: plan the file and stage its rows, one POST through the real wizard.

    DATABASE_URL=sqlite:////tmp/open-once.sqlite3 .venv/bin/python bench/open_once.py

A 10,000-row workbook (openpyxl, shared strings) and the same rows as CSV, each uploaded three times (a new file
each time, in every case: its note column differs, so no reader's cache can serve one run from another), staged in the request
(``TASK_THRESHOLD_ROWS`` raised) and, as configured by default, on a task (the immediate backend: in the request
too). Prints the median of the three runs' CPU seconds (``time.process_time``) of the upload POST.
"""

from __future__ import annotations

import csv
import io
import logging
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

ROWS = 10_000
RUNS = 3


def files(run: int) -> dict[str, tuple[str, bytes]]:
    """The run's workbook and CSV: the bench's rows, with a note that names the run."""
    from openpyxl import Workbook

    emails, codes = common.people()
    rows = common.rows(ROWS, variant=0, emails=emails, codes=codes)
    for row in rows:
        row[6] = f"{row[6]} run {run}"
    book = Workbook()
    sheet = book.active
    sheet.title = "Entries"
    sheet.append(common.HEADER)
    for row in rows:
        sheet.append(row)
    xlsx = io.BytesIO()
    book.save(xlsx)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(common.HEADER)
    writer.writerows([row[0], row[1].date().isoformat(), *row[2:]] for row in rows)
    return {"xlsx": ("bench.xlsx", xlsx.getvalue()), "csv": ("bench.csv", text.getvalue().encode())}


def upload_cpu(name: str, content: bytes) -> float:
    """CPU seconds of one upload POST (plan and stage); the batch is discarded afterwards."""
    from cases import alice
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from bulkupload.models import UploadBatch

    client = Client()
    client.force_login(alice())
    response = client.post(reverse("bulkupload:start", kwargs={"spec": "timesheet-entries"}))
    upload_id = response["Location"].rstrip("/").split("/")[-2]
    url = reverse("bulkupload:wizard", kwargs={"spec": "timesheet-entries", "upload_id": upload_id, "step": "upload"})
    upload = SimpleUploadedFile(name, content)
    started = time.process_time()
    response = client.post(url, {f"bulkupload_{upload_id}-current_step": "upload", "upload-file": upload})
    spent = time.process_time() - started
    batch = UploadBatch.objects.get(pk=upload_id)
    assert response.status_code == 302 and batch.total_rows == ROWS, (response.status_code, batch.total_rows, batch.task_error)
    batch.delete()
    return spent


def reading_cpu(name: str, content: bytes) -> float:
    """CPU seconds of the step's file work alone: the plan, then every row read (no validation, no database)."""
    from bulkupload import mapping, reading
    from bulkupload.spec import get_spec

    spec, upload = get_spec("timesheet-entries"), io.BytesIO(content)
    started = time.process_time()
    if hasattr(mapping, "plan_book"):  # one opened, checked file for both
        book = reading.open_book(upload, name=name)
        try:
            plan = mapping.plan_book(spec, book, name=name)
            sum(1 for _row in book.table(plan.sheet).rows)
        finally:
            book.close()
    else:  # before: the plan opens the file, staging opens it again
        plan = mapping.plan_upload(spec, upload, name=name)
        sum(1 for _row in reading.open_table(upload, name=name, sheet=plan.sheet).rows)
    return time.process_time() - started


def main() -> None:
    common.setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    fresh = iter(range(10_000))
    inline = {**getattr(settings, "BULKUPLOAD", {}), "TASK_THRESHOLD_ROWS": 1_000_000}
    logging.getLogger("django.tasks").setLevel(logging.WARNING)
    print(f"upload step, {ROWS:,} rows, CPU seconds, median of {RUNS}")
    for kind in ("xlsx", "csv"):
        times = [reading_cpu(*files(next(fresh))[kind]) for _run in range(RUNS)]
        print(f"{kind:5} {'plan + read, no DB':22} {statistics.median(times):6.2f} s   ({', '.join(f'{t:.2f}' for t in times)})")
    for kind in ("xlsx", "csv"):
        for where, overrides in (("in the request", {"BULKUPLOAD": inline}), ("on a task (immediate)", {})):
            with override_settings(**overrides):
                times = [upload_cpu(*files(next(fresh))[kind]) for _run in range(RUNS)]
            print(f"{kind:5} {where:22} {statistics.median(times):6.2f} s   ({', '.join(f'{t:.2f}' for t in times)})", flush=True)


if __name__ == "__main__":
    main()
