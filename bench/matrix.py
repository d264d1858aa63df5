"""Benchmark matrix: the upload pipeline over files written the ways people's files are written, against the floor.

    .venv/bin/python bench/matrix.py                                  # 10,000 and 100,000 rows on SQLite
    .venv/bin/python bench/matrix.py --sizes 10000 --postgres postgres://postgres@127.0.0.1:5432/bu_bench
    .venv/bin/python bench/matrix.py --sizes 1000000 --kinds openpyxl csv-utf8   # the large case (MAX_ROWS raised)

Kinds of file: a shared strings table as Excel writes one (xlsxwriter's default mode), openpyxl 3.1 normal and
write-only modes (both write inline strings), xlsxwriter's constant-memory mode (inline strings), a workbook with
formulas (saved results) under a merged title row, and CSV in UTF-8 and cp1252.
Each case runs in a fresh process (its peak RSS is its own), ``--runs`` times (3), the floor and ours taking turns; the
table shows medians, and each ratio is the median of our runs each over the floor run just before it. Before the
timed upload, each process reads a 100-row file of the same kind the same way (the floor too), untimed, as a running
server has done before a user's upload: imports and first-use costs are not counted as the upload's.
The floor of a kind is python-calamine reading every value of that file (the stdlib csv module for CSV) plus
one ``bulk_create`` of the rows; the ratios are printed beside it, from the same run.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SQLITE_URL = f"sqlite:///{ROOT / 'var' / 'bench-matrix.sqlite3'}"
FILES = ROOT / "var" / "bench" / "matrix"
KINDS = ("shared-strings", "openpyxl", "write-only", "xlsxwriter", "formulas", "csv-utf8", "csv-cp1252")
#: Rows of the small file of the same kind each case reads first, untimed: a server has its code imported and warm before
#: a user's upload (in a fresh process the first upload also paid about 0.3 s of imports, a quarter of 10,000 rows' time).
WARM_UP = 100
#: Rows above the engine's default MAX_ROWS (100,000) run with the limit raised for the run, and a larger file size.
BIG = {
    **{"MAX_ROWS": 2_000_000, "MAX_CELLS": 20_000_000, "MAX_READ_SECONDS": 3600, "MAX_FILE_SIZE": 200 * 1024 * 1024},
    **{"MAX_UNPACKED_SIZE": 1 << 30, "MAX_UNPACKED_PART_SIZE": 1 << 30},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="PostgreSQL URL of a database of your own (skipped when absent)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--sqlite", default=SQLITE_URL, help="the SQLite database's URL (another file lets two runs go at once)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="", help="a word printed in the header (e.g. before/after)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        return run_case(args.case, args.kind, args.count)
    databases = ([] if args.no_sqlite else [("SQLite", args.sqlite)]) + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    print(header(args.label), flush=True)
    results = []
    for label, url in databases:
        child(url, "prepare", "-", max(args.sizes))
        for count in args.sizes:
            child(url, "files", ",".join(args.kinds), count)
            for kind in args.kinds:
                # Floor and ours alternate, run by run: a machine that slows down for a while slows both alike.
                runs: dict[str, list[dict]] = {"floor": [], "ours": []}
                for _ in range(args.runs):
                    for case in ("floor", "ours"):
                        child(url, "reset", kind, count)
                        runs[case].append(child(url, case, kind, count))
                results.append(summarise(label, "floor", kind, count, runs["floor"]))
                results.append(summarise(label, "ours", kind, count, runs["ours"], floors=runs["floor"]))
                print(row_text(results, results[-1]), flush=True)
    print()
    print(table(results))


def child(url: str, case: str, kind: str, count: int) -> dict:
    """Run one case in a fresh interpreter; its last output line is its JSON result."""
    env = {**os.environ, "DATABASE_URL": url}
    if count > 100_000:
        env["BULKUPLOAD_BENCH_LIMITS"] = json.dumps(BIG)
    command = [sys.executable, str(HERE / "matrix.py"), "--case", case, "--kind", kind, "--count", str(count)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        sys.exit(f"{case} {kind} ({count} rows) failed on {url}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(case: str, kind: str, count: int) -> None:
    sys.path.insert(0, str(HERE))
    import common

    common.setup_django()
    if limits := os.environ.get("BULKUPLOAD_BENCH_LIMITS"):
        from django.conf import settings

        settings.BULKUPLOAD = {**getattr(settings, "BULKUPLOAD", {}), **json.loads(limits)}
    import cases

    result: dict = {}
    if case == "prepare":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
    elif case == "files":
        for one in kind.split(","):
            matrix_file(one, count)
    elif case == "reset":
        common.reset()
    elif case == "floor":
        floor(matrix_file(kind, WARM_UP), kind, WARM_UP)
        common.reset()
        result = floor(matrix_file(kind, count), kind, count)
    else:
        cases.ours(matrix_file(kind, WARM_UP), WARM_UP)
        common.reset()
        result = cases.ours(matrix_file(kind, count), count)
    result["peak_rss_mb"] = common.peak_rss_mb()
    print(json.dumps(result))


# --- the files -------------------------------------------------------------------------------------


def matrix_file(kind: str, count: int) -> Path:
    """The file of ``kind`` with ``count`` timesheet rows, written once into var/bench/matrix/."""
    from common import HEADER, people, rows

    suffix = "csv" if kind.startswith("csv") else "xlsx"
    path = FILES / f"{kind}-{count}.{suffix}"
    if path.exists():
        return path
    FILES.mkdir(parents=True, exist_ok=True)
    emails, codes = people()
    data = rows(count, variant=0, emails=emails, codes=codes)
    for row in data:
        row[6] = f"tâche {row[6]}"  # an accent, so that the CSV encodings differ
    tmp = path.with_suffix(".tmp")
    WRITERS[kind](tmp, HEADER, data)
    tmp.rename(path)
    return path


def _openpyxl(path: Path, header: list, data: list, *, write_only: bool) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("Entries") if write_only else book.active
    if not write_only:
        sheet.title = "Entries"
    sheet.append(header)
    for row in data:
        sheet.append(row)
    book.save(path)


def _xlsxwriter(path: Path, header: list, data: list, *, formulas: bool = False, shared: bool = False) -> None:
    import xlsxwriter

    # constant_memory writes inline strings, row by row; without it, a shared strings table as Excel writes one.
    book = xlsxwriter.Workbook(str(path), {"constant_memory": not shared})
    sheet = book.add_worksheet("Entries")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    top = 0
    if formulas:
        sheet.merge_range(0, 0, 0, len(header) - 1, "Timesheets, imported from the time clock")
        top = 1
    sheet.write_row(top, 0, header)
    for number, row in enumerate(data, start=top + 1):
        sheet.write_string(number, 0, row[0])
        sheet.write_datetime(number, 1, row[1], day)
        sheet.write_string(number, 2, row[2])
        if formulas:  # Hours as a formula with its saved result, as Excel keeps it
            sheet.write_formula(number, 3, f"={row[3] * 4:g}/4", None, row[3])
        else:
            sheet.write_number(number, 3, row[3])
        for column in (4, 5, 6):
            sheet.write_string(number, column, row[column])
    book.close()


def _csv(path: Path, header: list, data: list, *, encoding: str) -> None:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in data:
            writer.writerow([row[0], row[1].date().isoformat(), row[2], row[3], *row[4:]])


WRITERS = {
    "shared-strings": lambda p, h, d: _xlsxwriter(p, h, d, shared=True),
    "openpyxl": lambda p, h, d: _openpyxl(p, h, d, write_only=False),
    "write-only": lambda p, h, d: _openpyxl(p, h, d, write_only=True),
    "xlsxwriter": lambda p, h, d: _xlsxwriter(p, h, d),
    "formulas": lambda p, h, d: _xlsxwriter(p, h, d, formulas=True),
    "csv-utf8": lambda p, h, d: _csv(p, h, d, encoding="utf-8"),
    "csv-cp1252": lambda p, h, d: _csv(p, h, d, encoding="cp1252"),
}


# --- the floor: read every value, one bulk_create ------------------------------------------------


def floor(path: Path, kind: str, count: int) -> dict:
    """python-calamine (stdlib csv for CSV) reads every value; the entries are built and bulk-created, unchecked.

    They are the rows the upload writes, its batch included: the demo's spec records on each entry the upload that
    wrote it (``upload_batch``), a foreign key PostgreSQL checks for every row at commit (0.4 s of 3.7 s at 100,000).
    """
    from cases import acme, alice

    from bulkupload.models import UploadBatch
    from project.timesheets.models import Employee, Entry, Project

    tenant = acme()
    batch = UploadBatch.objects.create(owner=alice(), spec="timesheet-entries")
    employees = dict(Employee.objects.filter(tenant=tenant).values_list("email", "pk"))
    projects = dict(Project.objects.filter(tenant=tenant).values_list("code", "pk"))
    started, started_cpu = time.perf_counter(), time.process_time()
    values = _read_values(path, kind)
    entries = []
    for email, day, code, hours, billable, activity, note in values[-count:]:
        if isinstance(day, str):
            day = datetime.date.fromisoformat(day)
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
                upload_batch_id=batch.pk,
            )
        )
    read, read_cpu = time.perf_counter(), time.process_time()
    Entry.objects.bulk_create(entries, batch_size=5000)
    done, done_cpu = time.perf_counter(), time.process_time()
    assert len(entries) == count
    return {"phase1": read - started, "phase2": done - read, "cpu1": read_cpu - started_cpu, "cpu2": done_cpu - read_cpu}


def _read_values(path: Path, kind: str) -> list:
    if kind.startswith("csv"):
        with path.open(newline="", encoding="utf-8" if kind == "csv-utf8" else "cp1252") as handle:
            return list(csv.reader(handle))
    from python_calamine import CalamineWorkbook

    with path.open("rb") as handle:
        return CalamineWorkbook.from_filelike(handle).get_sheet_by_index(0).to_python()


# --- the table ---------------------------------------------------------------------------------------


def summarise(database: str, case: str, kind: str, count: int, runs: list[dict], floors: list[dict] | None = None) -> dict:
    """Medians of the runs; with ``floors`` (the floor's runs, each run just before ours), the medians of the ratios
    of each of our runs to its own floor run."""
    summary = {"db": database, "case": case, "kind": kind, "rows": count, "runs": len(runs)}
    for key in ("phase1", "phase2", "cpu1", "cpu2", "peak_rss_mb"):
        summary[key] = statistics.median(run[key] for run in runs)
    summary["total"] = statistics.median(run["phase1"] + run["phase2"] for run in runs)
    summary["cpu_total"] = statistics.median(run["cpu1"] + run["cpu2"] for run in runs)
    if floors:
        pairs = list(zip(runs, floors, strict=True))
        summary["ratio1"] = statistics.median(o["phase1"] / (f["phase1"] + f["phase2"]) for o, f in pairs)
        summary["ratio2"] = statistics.median(o["phase2"] / f["phase2"] for o, f in pairs)
        summary["cpu_ratio1"] = statistics.median(o["cpu1"] / (f["cpu1"] + f["cpu2"]) for o, f in pairs)
        summary["cpu_ratio2"] = statistics.median(o["cpu2"] / f["cpu2"] for o, f in pairs)
    return summary


def find(results: list[dict], db: str, case: str, kind: str, rows: int) -> dict | None:
    return next((r for r in results if (r["db"], r["case"], r["kind"], r["rows"]) == (db, case, kind, rows)), None)


def row_text(results: list[dict], ours: dict) -> str:
    floor = find(results, ours["db"], "floor", ours["kind"], ours["rows"])
    return (
        f"{ours['db']:<10} {ours['rows']:>9,} {ours['kind']:<11} upload→preview {ours['phase1']:.2f} s, confirm {ours['phase2']:.2f} s, "
        f"peak RSS {ours['peak_rss_mb']:.0f} MB · floor read {floor['phase1']:.2f} s + bulk_create {floor['phase2']:.2f} s "
        f"· ratios {ours['ratio1']:.2f}× / {ours['ratio2']:.2f}× "
        f"· CPU {ours['cpu1']:.2f} s / {ours['cpu2']:.2f} s, CPU ratios {ours['cpu_ratio1']:.2f}× / {ours['cpu_ratio2']:.2f}×"
    )


def table(results: list[dict]) -> str:
    lines = [
        "| DB | rows | file | upload→preview s | confirm s | peak RSS MB | floor: read s | floor: bulk_create s | "
        "preview / floor (≤ 1.5) | confirm / bulk_create (≤ 1.2) | floor RSS MB | CPU: preview / floor | CPU: confirm / bulk_create |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ours in (r for r in results if r["case"] == "ours"):
        floor = find(results, ours["db"], "floor", ours["kind"], ours["rows"])
        lines.append(
            f"| {ours['db']} | {ours['rows']:,} | {ours['kind']} | {ours['phase1']:.2f} | {ours['phase2']:.2f} | {ours['peak_rss_mb']:.0f} | "
            f"{floor['phase1']:.2f} | {floor['phase2']:.2f} | {ours['ratio1']:.2f}× | "
            f"{ours['ratio2']:.2f}× | {floor['peak_rss_mb']:.0f} | {ours['cpu_ratio1']:.2f}× | {ours['cpu_ratio2']:.2f}× |"
        )
    lines.append("")
    lines.append(
        "Medians of the runs; floor and ours alternate, and each ratio is the median of our runs each over the floor run "
        "just before it. The floor reads the same file (python-calamine; csv for CSV) and bulk-creates the rows; "
        "preview / floor is upload→preview over floor read + bulk_create. The CPU ratios compare CPU seconds of the "
        "measuring process (steadier than wall clock on a loaded machine; PostgreSQL's own work is not in them)."
    )
    return "\n".join(lines)


def header(label: str) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?"
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"bench/matrix.py {label} · {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · commit {commit} · "
        f"{os.cpu_count()} CPUs ({cpu}) · Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
