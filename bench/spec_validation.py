"""Row validation speed of the demo's spec: 10,000 timesheet rows through ``RowValidator`` (no file, no writes).

Compares the declaration styles: run it in this checkout, and in an export of an older commit to compare.

    .venv/bin/python bench/spec_validation.py                                   # this checkout
    git archive 7363763 | tar -x -C /tmp/base && .venv/bin/python bench/spec_validation.py /tmp/base

A fresh SQLite database in a temporary folder holds the demo data; medians of seven runs of ten 1,000-row chunks, in CPU time of the process (the machine is shared).
"""

from __future__ import annotations

import datetime
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    sys.path.insert(0, str(root))
    os.chdir(root)
    folder = tempfile.mkdtemp()
    os.environ.update(DJANGO_SETTINGS_MODULE="project.settings", DATABASE_URL=f"sqlite:///{folder}/bench.sqlite3", DEBUG="0")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=io.StringIO())
    from bulkupload.spec import get_spec
    from bulkupload.validation import RowValidator
    from project.timesheets.models import Employee, Project, Tenant

    acme = Tenant.objects.get(name="Acme")
    emails = list(Employee.objects.filter(tenant=acme).values_list("email", flat=True))
    codes = list(Project.objects.filter(tenant=acme, active=True).values_list("code", flat=True))
    day = datetime.date.today() - datetime.timedelta(days=30)
    raws = [
        {
            "employee_email": emails[n % len(emails)],
            "date": (day - datetime.timedelta(days=n // 950)).isoformat(),
            "project_code": codes[n % len(codes)],
            "hours": "7.5",
            "billable": "yes",
            "activity": "Development",
            "note": "x",
        }
        for n in range(10_000)
    ]
    spec = get_spec("timesheet-entries")
    times = []
    for _ in range(7):
        validator = RowValidator(spec, acme)
        started = time.process_time()
        for start in range(0, len(raws), 1000):
            results = validator.validate_chunk(raws[start : start + 1000])
            assert all(r.values is not None for r in results)
        times.append(time.process_time() - started)
    print("| checkout | rows | validate, CPU ms (median of 7) |")
    print("|---|---|---|")
    print(f"| {root} | {len(raws):,} | {statistics.median(times) * 1000:.0f} |")


if __name__ == "__main__":
    main()
