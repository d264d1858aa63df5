"""How long the error report takes to write, and how big it gets, as the invalid rows grow.

    DATABASE_URL=postgres://…/yourdb .venv/bin/python bench/error_report.py

Uses the bench database (migrated and seeded here). Every row has 30 hours, so
every row is invalid and every report row has a highlighted cell with a comment.
"""

from __future__ import annotations

import csv
import io
import time

from common import ACTIVITIES, FIRST_DAY, peak_rss_mb, people, setup_django


def main() -> None:
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bulkupload import services, workbook
    from bulkupload.models import UploadBatch
    from bulkupload.spec import get_spec

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=io.StringIO())
    spec = get_spec("timesheet-entries")
    alice = get_user_model().objects.get(username="alice")
    emails, codes = people()
    print("| invalid rows | stage + validate | error report | report size | peak RSS |")
    print("|---:|---:|---:|---:|---:|")
    for count in (1_000, 10_000, 30_000, 60_000):
        UploadBatch.objects.filter(owner=alice).delete()
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"])
        for i in range(count):
            writer.writerow(
                [emails[i % len(emails)], FIRST_DAY.isoformat(), codes[i % len(codes)], 30, "no", ACTIVITIES[i % 5], f"=note {i}"]
            )
        upload = io.BytesIO(text.getvalue().encode())
        upload.size = len(upload.getvalue())
        batch = services.create_batch(spec=spec, user=alice)
        start = time.perf_counter()
        services.stage_upload(batch=batch, upload=upload, name="bench.csv")
        staged = time.perf_counter() - start
        batch.refresh_from_db()
        assert batch.invalid_count == count, batch.invalid_count
        start = time.perf_counter()
        content = workbook.error_report(spec, batch)
        report = time.perf_counter() - start
        print(f"| {count:,} | {staged:.1f} s | {report:.1f} s | {len(content) / 1e6:.1f} MB | {peak_rss_mb():.0f} MB |")


if __name__ == "__main__":
    main()
