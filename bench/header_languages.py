"""What matching headers in every configured language costs a fresh process.

Each run is a new Python process with Django's default ``LANGUAGES`` (about 100 languages) unless
``--languages project`` keeps the demo's two: it builds the demo spec's header lookup once (what the
first upload of a process pays) and a second time (what every later one pays). Medians of ``--runs``.

    .venv/bin/python bench/header_languages.py [--runs 5] [--languages default|project]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
import django
django.setup()
from django.conf import global_settings, settings
if {default!r}:
    settings.LANGUAGES = global_settings.LANGUAGES
from bulkupload import mapping, spec
entries = spec.get_spec("timesheet-entries")
started = time.perf_counter()
first = mapping.header_lookup(entries)
middle = time.perf_counter()
mapping.header_lookup(entries)
ended = time.perf_counter()
print(json.dumps({{"languages": len(settings.LANGUAGES), "first": middle - started, "again": ended - middle, "names": len(first)}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--languages", choices=("default", "project"), default="default")
    args = parser.parse_args()
    code = CHILD.format(root=str(ROOT), default=args.languages == "default")
    results = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DEBUG": "0", "SECRET_KEY": "bench"},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = statistics.median(r["first"] for r in results) * 1000
    again = statistics.median(r["again"] for r in results) * 1000
    print("| languages | header names | first lookup in a process (ms) | later lookups (ms) | runs |")
    print("|---|---|---|---|---|")
    print(f"| {results[0]['languages']} | {results[0]['names']} | {first:.1f} | {again:.2f} | {len(results)} |")


if __name__ == "__main__":
    main()
