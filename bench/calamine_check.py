"""Does python-calamine read what openpyxl reads? Every .xlsx the test suite writes, cell by cell, and how fast.

    .venv/bin/python bench/calamine_check.py            # runs the test suite once to collect its files
    .venv/bin/python bench/calamine_check.py --reuse    # compares the files collected last time

The openpyxl side is the app's reader (bulkupload.reading.xlsx: every cell's
text as staging sees it); the calamine side turns each value into text with the
same ``cell_text``. Files the app's reader refuses are counted, not compared.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FILES = ROOT / "var" / "bench" / "suite-xlsx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", action="store_true", help="compare the files collected by the last run")
    args = parser.parse_args()
    if not args.reuse:
        collect()
    sys.path.insert(0, str(HERE))
    import common

    common.setup_django()
    compare(sorted(FILES.glob("*.xlsx")))


def collect() -> None:
    shutil.rmtree(FILES, ignore_errors=True)
    env = {**os.environ, "CALAMINE_CAPTURE_DIR": str(FILES), "PYTHONPATH": str(HERE)}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "calamine_capture", "--ignore=tests/browser", "tests"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:])


def compare(paths: list[Path]) -> None:
    from bulkupload.exceptions import FileRejected

    outcome: Counter = Counter()
    differences: list[str] = []
    for path in paths:
        content = path.read_bytes()
        try:
            expected = openpyxl_sheets(content)
        except FileRejected:
            outcome["refused by the app's reader"] += 1
            continue
        try:
            actual = calamine_sheets(content)
        except Exception as exc:  # calamine raises its own kinds on files openpyxl reads
            outcome["calamine fails"] += 1
            differences.append(f"{path.name}: calamine cannot read it ({type(exc).__name__}: {str(exc)[:120]})")
            continue
        found = diff(path.name, expected, actual)
        plain = is_plain(content)
        outcome[("identical" if not found else "different") + (" (plain: calamine path)" if plain else " (openpyxl path)")] += 1
        differences.extend(("PLAIN, WOULD BE WRONG: " if plain else "not plain, openpyxl reads it: ") + line for line in found[:3])
    print(f"{len(paths)} workbooks written by the test suite: " + ", ".join(f"{n} {what}" for what, n in outcome.most_common()))
    for line in differences[:60]:
        print("  " + line)


def openpyxl_sheets(content: bytes) -> dict[str, list[tuple[int, list[str]]]]:
    """Every sheet's non-blank rows as the app's reader yields them."""
    from bulkupload.reading import Limits
    from bulkupload.reading.xlsx import SheetRows, _load

    limits = Limits()
    sheets = {}
    for title in _titles(content, limits):
        workbook = _load(io.BytesIO(content), name="x.xlsx", limits=limits)
        rows = SheetRows(workbook[title], workbook, name="x.xlsx", limits=limits)
        sheets[title] = [(number, [str(cell) for cell in cells]) for number, cells in rows if any(cells)]
    return sheets


def _titles(content: bytes, limits) -> list[str]:
    from bulkupload.reading.xlsx import _load

    workbook = _load(io.BytesIO(content), name="x.xlsx", limits=limits)
    try:
        return [sheet.title for sheet in workbook.worksheets]
    finally:
        workbook.close()


def calamine_sheets(content: bytes) -> dict[str, list[tuple[int, list[str]]]]:
    """Every sheet's non-blank rows as the calamine reader yields them (whether or not the file is plain)."""
    from python_calamine import CalamineWorkbook

    from bulkupload.reading import Limits
    from bulkupload.reading.calamine import _rows, worksheet_titles
    from bulkupload.reading.extent import EXCEL_MAX_ROWS

    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    limits = Limits()
    rows = {
        title: _rows(book.get_sheet_by_name(title), name="x.xlsx", limits=limits, title=title, last=EXCEL_MAX_ROWS)
        for title in worksheet_titles(book) or []
    }
    return {title: [(n, list(cells)) for n, cells in found if any(cells)] for title, found in rows.items()}


def is_plain(content: bytes) -> bool:
    from bulkupload.reading import Limits
    from bulkupload.reading.extent import inspect_workbook

    return bool(inspect_workbook(io.BytesIO(content), name="x.xlsx", limits=Limits(), plain=True).plain)


def diff(name: str, expected: dict, actual: dict) -> list[str]:
    found = []
    if list(expected) != list(actual):
        return [f"{name}: sheets {list(expected)} (openpyxl) vs {list(actual)} (calamine)"]
    for title, rows in expected.items():
        theirs = dict(actual[title])
        for number, cells in rows:
            if theirs.get(number) != cells:
                found.append(f"{name} “{title}” row {number}: openpyxl {cells!r} · calamine {theirs.get(number)!r}")
        extra = sorted(set(theirs) - {n for n, _c in rows})
        if extra:
            found.append(f"{name} “{title}”: calamine reads rows openpyxl does not: {extra[:5]}")
    return found


def speed(path: Path) -> tuple[float, float]:
    """Seconds to read every cell of ``path``: the app's openpyxl reader, then python-calamine."""
    started = time.perf_counter()
    openpyxl_sheets(path.read_bytes())
    middle = time.perf_counter()
    calamine_sheets(path.read_bytes())
    return middle - started, time.perf_counter() - middle


if __name__ == "__main__":
    main()
