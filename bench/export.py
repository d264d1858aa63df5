"""How long exporting records takes, and the memory it needs, as they grow.

    .venv/bin/python bench/export.py                                                   # SQLite (var/bench.sqlite3)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bu_bench .venv/bin/python bench/export.py

Exports the tenant's entries as a filled-in template (what the admin action
**Export selected as spreadsheet** and ``manage.py bulkupload export`` write).
Each export runs in a fresh process, three times; the table shows medians and
the largest peak RSS. The entries are created first by a separate, untimed process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQLITE_URL = f"sqlite:///{HERE.parent / 'var' / 'bench.sqlite3'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        return run_case(args.case, args.count)
    os.environ.setdefault("DATABASE_URL", SQLITE_URL)
    print("| records | export | rows/s | file size | peak RSS |")
    print("|---:|---:|---:|---:|---:|")
    for count in args.rows:
        child("entries", count)
        runs = [child("export", count) for _ in range(args.runs)]
        seconds = statistics.median(run["seconds"] for run in runs)
        print(
            f"| {count:,} | {seconds:.1f} s | {count / seconds:,.0f} | {runs[0]['bytes'] / 1e6:.1f} MB "
            f"| {max(run['peak_rss_mb'] for run in runs):.0f} MB |",
            flush=True,
        )


def child(case: str, count: int) -> dict:
    command = [sys.executable, str(HERE / "export.py"), "--case", case, "--count", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent, check=False)
    if done.returncode:
        sys.exit(f"{case} ({count} records) failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(case: str, count: int) -> None:
    sys.path.insert(0, str(HERE))
    import common

    common.setup_django()
    import cases

    from project.timesheets.models import Entry

    if case == "entries":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
        common.reset()
        cases.preload(common.timesheet_file(count, 0), count)
        result: dict = {}
    else:
        from bulkupload import workbook
        from bulkupload.spec import get_spec

        records = Entry.objects.filter(tenant=cases.acme())
        started = time.perf_counter()
        content = workbook.export_workbook(get_spec("timesheet-entries"), records)
        result = {"seconds": time.perf_counter() - started, "bytes": len(content)}
        assert content[:2] == b"PK"
    result["peak_rss_mb"] = common.peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
