"""What the values step's set-based mapping costs over a large upload, and how many queries it makes.

    DATABASE_URL=postgres://…/bench .venv/bin/python bench/value_mapping.py [rows…]

Stages a file whose Activity column holds three German words (every row invalid), then maps them
(one UPDATE per value, then the touched rows revalidated in chunks) and undoes the mapping, three times;
prints the median seconds and the query count of one apply.
"""

from __future__ import annotations

import io
import statistics
import sys
import time

from common import setup_django

setup_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bulkupload import services, values  # noqa: E402
from bulkupload.spec import get_spec  # noqa: E402

GERMAN = ("Entwicklung", "Besprechung", "Pflege")
TO = {"Entwicklung": "Development", "Besprechung": "Meeting", "Pflege": "Support"}


def csv_bytes(count: int) -> bytes:
    from common import HEADER, people, rows

    emails, codes = people()
    out = io.StringIO()
    out.write(",".join(HEADER) + "\n")
    for n, row in enumerate(rows(count, variant=0, emails=emails, codes=codes)):
        row[1] = row[1].date().isoformat()
        row[5] = GERMAN[n % 3]
        out.write(",".join(str(v) for v in row) + "\n")
    return out.getvalue().encode()


def main() -> None:
    call_command("migrate", verbosity=0)
    from project.timesheets.models import Tenant

    if not Tenant.objects.filter(name="Acme").exists():
        call_command("seed_demo", stdout=io.StringIO())
    user = get_user_model().objects.get(username="alice")
    spec = get_spec("timesheet-entries")
    print(f"database: {connection.vendor}")
    print("| rows | apply (median of 3) | undo (median of 3) | queries per apply | invalid after |")
    print("|---:|---:|---:|---:|---:|")
    for count in [int(a) for a in sys.argv[1:]] or [2000, 10000]:
        batch = services.create_batch(spec=spec, user=user)
        upload = io.BytesIO(csv_bytes(count))
        upload.name = "german.csv"
        batch = services.stage_upload(batch=batch, upload=upload, name="german.csv")
        applies, undos, queries, invalid = [], [], 0, -1
        for _ in range(3):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                batch = values.apply_values(batch, mappings={"activity": TO})
                applies.append(time.perf_counter() - start)
            queries, invalid = len(captured.captured_queries), batch.invalid_count
            start = time.perf_counter()
            batch = values.apply_values(batch, mappings={"activity": {text: "" for text in TO}})
            undos.append(time.perf_counter() - start)
        print(f"| {count:,} | {statistics.median(applies):.2f} s | {statistics.median(undos):.2f} s | {queries} | {invalid} |")
        services.discard_batch(batch_id=batch.pk)


if __name__ == "__main__":
    main()
