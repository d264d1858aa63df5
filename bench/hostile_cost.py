"""The "hostile cost" table: what each crafted file of issue 11 costs the upload step, before and after.

    .venv/bin/python bench/hostile_cost.py                       # this tree
    .venv/bin/python bench/hostile_cost.py --tree /tmp/before    # another checkout (the commit before the fix)

Each case runs in a fresh Python process of the tree under test, capped like a server worker should be
(``RLIMIT_AS`` 4 GB, ``RLIMIT_CPU`` 200 s, killed after 300 s of wall clock): it does what the upload step
does with the file (``mapping.open_planned``, then the chosen sheet's every row read from the same book; in a tree
before it, ``mapping.plan_upload`` then ``open_table``) and
reports its seconds and its own peak resident memory. A case that finishes in under 20 s is run three times
and the median shown. The crafted files are built by ``tests/hostile.py`` (the tests read the same files).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, resource, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
import django
django.setup()
from bulkupload import mapping
from bulkupload.exceptions import FileRejected
from bulkupload.reading import open_table
from bulkupload.spec import get_spec

spec = get_spec("timesheet-entries")
path = sys.argv[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
with open(path, "rb") as handle:
    try:
        if hasattr(mapping, "open_planned"):  # the step plans and reads the rows from one opened, checked file
            book, plan = mapping.open_planned(spec, handle, name=os.path.basename(path))
            try:
                outcome = "read %d rows" % sum(1 for _ in book.table(plan.sheet).rows)
            finally:
                book.close()
        else:  # a tree before it: the plan opens the file, then open_table opens it again
            plan = mapping.plan_upload(spec, handle, name=os.path.basename(path))
            table = open_table(handle, name=os.path.basename(path), sheet=plan.sheet)
            outcome = "read %d rows" % sum(1 for _ in table.rows)
    except FileRejected as exc:
        outcome = "refused: " + str(exc)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "added_mb": peak - before, "outcome": outcome}))
"""

MEMORY = 4 << 30
CPU_SECONDS = 200
WALL_SECONDS = 300


def run_once(tree: Path, path: Path) -> dict:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))

    env = {**os.environ, "PYTHONPATH": str(tree), "DEBUG": "0", "SECRET_KEY": "bench-only-not-secret"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    start = time.perf_counter()
    try:
        process = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=WALL_SECONDS,
            preexec_fn=limit,
            cwd=tree,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {
            "seconds": time.perf_counter() - start,
            "peak_mb": None,
            "added_mb": None,
            "outcome": f"killed (wall clock {WALL_SECONDS} s)",
        }
    if process.returncode != 0:
        code = -process.returncode
        name = signal.Signals(code).name if process.returncode < 0 else f"status {process.returncode}"
        lines = process.stderr.strip().splitlines() or [""]
        cause = next((line for line in lines if "memory allocation" in line or "Error" in line), lines[-1])[:90]
        return {"seconds": time.perf_counter() - start, "peak_mb": None, "added_mb": None, "outcome": f"killed ({name}): {cause}".strip()}
    return json.loads(process.stdout.strip().splitlines()[-1])


def measure(tree: Path, path: Path) -> dict:
    first = run_once(tree, path)
    if first["peak_mb"] is None or first["seconds"] >= 20:
        return first
    runs = [first, run_once(tree, path), run_once(tree, path)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
        "added_mb": statistics.median(r["added_mb"] for r in runs),
        "outcome": first["outcome"],
    }


def build_cases(folder: Path) -> list[tuple[str, Path]]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    import django

    django.setup()
    from tests.helpers import xlsx_file
    from tests.hostile import CRAFTED

    control_row = ["ada@acme.example", "2026-11-02", "P-001", "7.5", "yes", "Development", "ok"]
    cases = [("control: 1,000-row timesheet .xlsx", "control.xlsx", lambda: xlsx_file([control_row] * 1000))]
    cases += [(label, name, build) for label, (name, build) in CRAFTED.items()]
    out = []
    for label, name, build in cases:
        path = folder / name
        path.write_bytes(build())
        out.append((label, path))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose reader is measured (default: this one)")
    parser.add_argument("--label", default="", help="what the tree is, for the table's first line (default: its git commit)")
    parser.add_argument("--only", default="", help="run only the cases whose label contains this text")
    args = parser.parse_args()
    tree = args.tree.resolve()
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        cases = [c for c in build_cases(Path(folder)) if args.only in c[0]]
        commit = args.label or commit
        print(f"tree {tree} at {commit}{' (with uncommitted changes)' if dirty.strip() else ''}; upload step = plan + read every row")
        print(f"each case in a fresh process: RLIMIT_AS {MEMORY >> 30} GB, RLIMIT_CPU {CPU_SECONDS} s, wall clock {WALL_SECONDS} s")
        print()
        print("| file | size | seconds | peak MB | MB above Django | s per KB | MB per KB | outcome |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        worst_s, worst_mb, killed = 0.0, 0.0, 0
        for label, path in cases:
            size_kb = path.stat().st_size / 1024
            result = measure(tree, path)
            peak, added = result["peak_mb"], result["added_mb"]
            per_s = result["seconds"] / size_kb
            per_mb = added / size_kb if added is not None else None
            if not label.startswith("control"):
                worst_s = max(worst_s, per_s)
                worst_mb = max(worst_mb, per_mb or 0)
                killed += peak is None
            outcome = result["outcome"].replace("|", "/").replace("\n", " ")[:140]
            print(
                f"| {label} | {size_kb:,.1f} KB | {result['seconds']:.2f} | {'—' if peak is None else f'{peak:,.0f}'} "
                f"| {'—' if added is None else f'{added:,.0f}'} | {per_s:.3f} | {'—' if per_mb is None else f'{per_mb:.2f}'} | {outcome} |",
                flush=True,
            )
        print()
        print(
            f"worst over the crafted files that finished: {worst_s:.3f} s per KB, {worst_mb:.2f} MB (above Django's) per KB; {killed} killed"
        )


if __name__ == "__main__":
    main()
