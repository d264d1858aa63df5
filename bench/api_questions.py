"""What the API's ``questions`` (values to map, date columns to answer) add to showing an upload.

    [DATABASE_URL=postgres://…/bench] .venv/bin/python bench/api_questions.py [rows…]

Stages a file in which every tenth row's Activity is German ("Entwicklung": invalid, with a suggestion), prepares
it as the API does once after staging, then times ``representation.upload_data`` alone and with
``answers.questions`` (what ``GET uploads/<id>/`` builds), five times each; prints medians and query counts.
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

from bulkupload import services  # noqa: E402
from bulkupload.api import answers  # noqa: E402
from bulkupload.api.representation import upload_data  # noqa: E402
from bulkupload.spec import get_spec  # noqa: E402


def csv_bytes(count: int) -> bytes:
    from common import HEADER, people, rows

    emails, codes = people()
    out = io.StringIO()
    out.write(",".join(HEADER) + "\n")
    for n, row in enumerate(rows(count, variant=0, emails=emails, codes=codes)):
        row[1] = row[1].date().isoformat()
        if n % 10 == 0:
            row[5] = "Entwicklung"
        out.write(",".join(str(v) for v in row) + "\n")
    return out.getvalue().encode()


def timed(build, runs: int = 5) -> tuple[float, int]:
    times, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            build()
            times.append(time.perf_counter() - start)
        queries = len(captured.captured_queries)
    return statistics.median(times) * 1000, queries


def main() -> None:
    call_command("migrate", verbosity=0)
    from project.timesheets.models import Tenant

    if not Tenant.objects.filter(name="Acme").exists():
        call_command("seed_demo", stdout=io.StringIO())
    user = get_user_model().objects.get(username="alice")
    spec = get_spec("timesheet-entries")
    print(f"database: {connection.vendor}")
    print("| rows | invalid | upload alone (median of 5) | with questions (median of 5) | queries alone / with |")
    print("|---:|---:|---:|---:|---:|")
    for count in [int(a) for a in sys.argv[1:]] or [2000, 20000]:
        batch = services.create_batch(spec=spec, user=user)
        upload = io.BytesIO(csv_bytes(count))
        upload.name = "german.csv"
        batch = answers.prepared(services.stage_upload(batch=batch, upload=upload, name="german.csv"), user)
        alone, alone_queries = timed(lambda shown=batch: upload_data(shown))
        both, both_queries = timed(lambda shown=batch: {**upload_data(shown), "questions": answers.questions(shown, spec, user)})
        print(f"| {count:,} | {batch.invalid_count:,} | {alone:.1f} ms | {both:.1f} ms | {alone_queries} / {both_queries} |")
        services.discard_batch(batch_id=batch.pk)


if __name__ == "__main__":
    main()
