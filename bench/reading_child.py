"""What reading an upload in a capped child process would cost, next to reading it in the worker itself.

    .venv/bin/python bench/reading_child.py [--runs 3]

Issue 11 asks whether untrusted files should be read in a child process with capped memory and CPU, so that even a
reader bug cannot take the server down. Three ways of reading the same file (plan nothing; ``open_table`` and every
row), medians of ``--runs``:

* **in process**: what the app does (the pre-scan of :mod:`bulkupload.reading.extent` bounds the readers first);
* **forked child**: ``os.fork`` of the worker, ``RLIMIT_AS``/``RLIMIT_CPU`` set in the child, rows sent back
  through a pipe in pickled chunks of 1,000 (cheap to start, but it forks a process holding database connections);
* **fresh interpreter**: a new Python with minimal settings (what ``tests/hostile.py`` does), rows back as JSON lines.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CAP_MB, CAP_CPU = 1024, 120


def in_process(path: Path) -> int:
    from bulkupload.reading import open_table

    with path.open("rb") as handle:
        return sum(1 for _ in open_table(handle, name=path.name).rows)


def forked(path: Path) -> int:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: capped, reads, sends chunks, exits without running the parent's cleanup
        os.close(read_end)
        resource.setrlimit(resource.RLIMIT_AS, (CAP_MB << 20, CAP_MB << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (CAP_CPU, CAP_CPU))
        from bulkupload.reading import open_table

        with os.fdopen(write_end, "wb") as out, path.open("rb") as handle:
            chunk = []
            for number, cells in open_table(handle, name=path.name).rows:
                chunk.append((number, list(cells)))
                if len(chunk) == 1000:
                    pickle.dump(chunk, out)
                    chunk = []
            pickle.dump(chunk, out)
        os._exit(0)
    os.close(write_end)
    count = 0
    with os.fdopen(read_end, "rb") as source:
        while True:
            try:
                count += len(pickle.load(source))  # noqa: S301 - our own child's rows, through our own pipe
            except EOFError:
                break
    os.waitpid(pid, 0)
    return count


CHILD = r"""
import json, sys
from django.conf import settings
settings.configure(USE_I18N=False)
from bulkupload.reading import open_table
with open(sys.argv[1], "rb") as handle:
    for number, cells in open_table(handle, name="upload.xlsx").rows:
        sys.stdout.write(json.dumps([number, cells]) + "\n")
"""


def fresh(path: Path) -> int:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAP_MB << 20, CAP_MB << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (CAP_CPU, CAP_CPU))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, preexec_fn=limit, env=env, cwd=ROOT) as child:
        count = sum(1 for line in io.TextIOWrapper(child.stdout) if json.loads(line))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    import django

    django.setup()
    from bench.columns_plan import workbook
    from tests.helpers import csv_file

    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    row = ["ada@acme.example", "2026-11-02", "P-001", "7.5", "yes", "Development", "ok"]
    files = {
        "1,000-row .xlsx": ("child-1k.xlsx", workbook(1_000, dimension=True)),
        "20,000-row .xlsx": ("child-20k.xlsx", workbook(20_000, dimension=True)),
        "50,000-row .xlsx (openpyxl)": ("child-50k.xlsx", workbook(50_000, dimension=False)),
        "20,000-row .csv": ("child-20k.csv", csv_file([row] * 20_000)),
    }
    print(f"medians of {args.runs}; child capped at {CAP_MB} MB address space and {CAP_CPU} s CPU")
    print()
    print("| file | in process | forked child | fresh interpreter | fork overhead | fresh overhead |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (name, content) in files.items():
        path = folder / name
        path.write_bytes(content)
        times = {}
        for way in (in_process, forked, fresh):
            runs = []
            for _ in range(args.runs):
                start = time.perf_counter()
                way(path)
                runs.append(time.perf_counter() - start)
            times[way.__name__] = statistics.median(runs)
        base = times["in_process"]
        print(
            f"| {label} | {base:.2f} s | {times['forked']:.2f} s | {times['fresh']:.2f} s "
            f"| +{(times['forked'] - base) * 1000:,.0f} ms | +{(times['fresh'] - base) * 1000:,.0f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
