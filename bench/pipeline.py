"""Benchmark: our upload pipeline against django-import-export 4.4 and against the floor, on SQLite and PostgreSQL.

    .venv/bin/pip install -r bench/requirements-compare.txt
    createdb -h 127.0.0.1 -U postgres bu_bench          # once; any database of your own
    .venv/bin/python bench/pipeline.py --postgres postgres://postgres@127.0.0.1:5432/bu_bench

Each case runs in a fresh process (so its peak RSS is its own), three times; the
table shows medians. See bench/README.md for what each case does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SQLITE_URL = f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"

#: (case, rows, kind): kind "new" imports into an empty tenant, "update" over the same keys with other values.
PLAN_LARGE = [("ours", "new"), ("ours", "update"), ("floor", "new"), ("calamine", "new")]
PLAN_SMALL = [*PLAN_LARGE, ("iie", "new"), ("iie", "update"), ("iie-bulk", "new"), ("iie-bulk", "update")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="PostgreSQL URL of a database of your own (skipped when absent)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iie-rows", type=int, nargs="*", default=[10_000], help="sizes django-import-export runs at (slow)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        return run_case(args.case, args.path, args.count)
    databases = ([] if args.no_sqlite else [("SQLite", SQLITE_URL)]) + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    print(header())
    results = []
    for label, url in databases:
        child(url, "prepare", max(args.rows))
        for count in args.rows:
            plan = PLAN_SMALL if count in args.iie_rows else PLAN_LARGE
            for case, kind in plan:
                runs = []
                for _ in range(args.runs):
                    child(url, "reset", count)
                    if kind == "update":
                        child(url, "preload", count)
                    runs.append(child(url, case, count, variant=1 if kind == "update" else 0))
                results.append(summarise(label, case, kind, count, runs))
                print(row_text(results[-1]), flush=True)
    print()
    print(table(results))
    print()
    print(targets(results))


def child(url: str, case: str, count: int, *, variant: int = 0) -> dict:
    """Run one case in a fresh interpreter; its last output line is its JSON result."""
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, str(HERE / "pipeline.py"), "--case", case, "--count", str(count), "--path", str(variant)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        sys.exit(f"{case} ({count} rows) failed on {url}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(case: str, variant: str, count: int) -> None:
    sys.path.insert(0, str(HERE))
    import common

    common.setup_django()
    import cases

    if case == "prepare":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
        for size in sorted({10_000, count}):
            for variant in (0, 1):
                common.timesheet_file(size, variant)
        result: dict = {}
    elif case == "reset":
        common.reset()
        result = {}
    elif case == "preload":
        result = cases.preload(common.timesheet_file(count, 0), count)
    else:
        path = common.timesheet_file(count, int(variant))
        measure = {
            "ours": cases.ours,
            "floor": cases.floor,
            "calamine": cases.calamine_read,
            "iie": lambda p, n: cases.import_export(p, n, bulk=False),
            "iie-bulk": lambda p, n: cases.import_export(p, n, bulk=True),
        }[case]
        result = measure(path, count)
    result["peak_rss_mb"] = common.peak_rss_mb()
    print(json.dumps(result))


def summarise(database: str, case: str, kind: str, count: int, runs: list[dict]) -> dict:
    summary = {"db": database, "case": case, "kind": kind, "rows": count, "runs": len(runs)}
    for key in runs[0]:
        summary[key] = statistics.median(run[key] for run in runs)
    summary["total"] = statistics.median(run["phase1"] + run["phase2"] for run in runs)
    return summary


NAMES = {
    "ours": ("ours", "upload→preview", "confirm"),
    "floor": ("floor", "openpyxl read", "bulk_create"),
    "calamine": ("calamine read", "read", "-"),
    "iie": ("import-export", "dry run", "confirm"),
    "iie-bulk": ("import-export bulk", "dry run", "confirm"),
}


def row_text(r: dict) -> str:
    name, first, second = NAMES[r["case"]]
    extra = ""
    if r["case"] == "ours":
        extra = f"  session {r['session_bytes']:.0f} B, page 1 {r['first_page_ms']:.0f} ms, last page {r['last_page_ms']:.0f} ms"
    return (
        f"{r['db']:<10} {r['rows']:>7} {r['kind']:<6} {name:<19} {first} {r['phase1']:.2f} s, {second} {r['phase2']:.2f} s, "
        f"total {r['total']:.2f} s, {r['rows'] / r['total']:,.0f} rows/s, peak RSS {r['peak_rss_mb']:.0f} MB{extra}"
    )


def find(results: list[dict], db: str, case: str, kind: str, rows: int) -> dict | None:
    return next((r for r in results if (r["db"], r["case"], r["kind"], r["rows"]) == (db, case, kind, rows)), None)


def table(results: list[dict]) -> str:
    lines = [
        "| DB | rows | kind | case | phase 1 s | phase 2 s | total s | rows/s | peak RSS MB | vs import-export | vs floor | session B | page 1 / last ms |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        name, first, second = NAMES[r["case"]]
        iie = find(results, r["db"], "iie", r["kind"], r["rows"])
        floor = find(results, r["db"], "floor", "new", r["rows"])
        versus_iie = f"{iie['total'] / r['total']:.1f}× faster" if iie and r["case"] == "ours" else ""
        versus_floor = ""
        if floor and r["case"] == "ours":
            versus_floor = f"{r['phase1'] / floor['total']:.2f}× / {r['phase2'] / floor['phase2']:.2f}×"
        session = f"{r['session_bytes']:.0f}" if "session_bytes" in r else ""
        pages = f"{r['first_page_ms']:.0f} / {r['last_page_ms']:.0f}" if "first_page_ms" in r else ""
        lines.append(
            f"| {r['db']} | {r['rows']:,} | {r['kind']} | {name} ({first} / {second}) | {r['phase1']:.2f} | {r['phase2']:.2f} | "
            f"{r['total']:.2f} | {r['rows'] / r['total']:,.0f} | {r['peak_rss_mb']:.0f} | {versus_iie} | {versus_floor} | {session} | {pages} |"
        )
    lines.append("")
    lines.append("vs floor: ours' upload→preview over the floor's read + write, and ours' confirm over the floor's bulk_create alone.")
    return "\n".join(lines)


def targets(results: list[dict]) -> str:
    """The issue's targets, each with its numbers and whether it is met."""
    lines = ["Targets:"]
    for db in dict.fromkeys(r["db"] for r in results):
        large = max(r["rows"] for r in results if r["db"] == db)
        ours, floor = find(results, db, "ours", "new", large), find(results, db, "floor", "new", large)
        if ours and floor:
            ratio = ours["phase1"] / floor["total"]
            lines.append(
                f"- {db} {large:,} new: upload→preview {ours['phase1']:.1f} s = {ratio:.2f}× floor (target ≤ 2): {verdict(ratio <= 2)}"
            )
            ratio = ours["phase2"] / floor["phase2"]
            lines.append(
                f"- {db} {large:,} new: confirm {ours['phase2']:.1f} s = {ratio:.2f}× bulk_create (target ≤ 1.5): {verdict(ratio <= 1.5)}"
            )
            lines.append(
                f"- {db} {large:,} new: peak RSS {ours['peak_rss_mb']:.0f} MB (target < 200): {verdict(ours['peak_rss_mb'] < 200)}"
            )
            small = find(results, db, "ours", "new", min(r["rows"] for r in results if r["db"] == db))
            if small and small is not ours:
                growth = ours["peak_rss_mb"] / small["peak_rss_mb"]
                lines.append(
                    f"- {db}: peak RSS {large:,} / {small['rows']:,} rows = {growth:.2f}× (target ≤ 1.5): {verdict(growth <= 1.5)}"
                )
            lines.append(
                f"- {db} {large:,}: preview page {ours['last_page_ms']:.0f} ms (last page; target < 150): {verdict(ours['last_page_ms'] < 150)}"
            )
        for kind in ("new", "update"):
            for size in sorted({r["rows"] for r in results if r["case"] == "iie" and r["db"] == db}):
                mine, theirs = find(results, db, "ours", kind, size), find(results, db, "iie", kind, size)
                bulk = find(results, db, "iie-bulk", kind, size)
                if mine and theirs:
                    speedup = theirs["total"] / mine["total"]
                    also = f", {bulk['total'] / mine['total']:.1f}× its bulk mode" if bulk else ""
                    lines.append(
                        f"- {db} {size:,} {kind}: {speedup:.1f}× faster than django-import-export{also} (target ≥ 20): {verdict(speedup >= 20)}"
                    )
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def header() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?"
    )
    return f"bench/pipeline.py · {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} CPUs ({cpu}) · Python {platform.python_version()}"


if __name__ == "__main__":
    main()
