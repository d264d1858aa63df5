"""The .xlsx reader candidates, each reading every cell of the same files in a fresh process: CPU seconds and peak RSS.

    .venv/bin/python bench/matrix.py --sizes 10000 100000 --runs 1 --kinds write-only   # writes the files once
    .venv/bin/python bench/readers.py                          # var/bench/matrix/*-{10000,100000}.xlsx, medians of 3
    .venv/bin/python bench/readers.py --files path/to/a.xlsx --runs 5

Candidates: python-calamine (the whole sheet loaded, then iterated; and the same with every value turned into its
text, as the app's calamine path does), the app's openpyxl reader (bulkupload.reading.xlsx,
cell texts as staging sees them), lxml.etree.iterparse (safe settings, a bare loop over cells: the parse alone, no
conversion to texts; skipped when lxml is not installed), the streaming reader's expat event parser alone (what it
falls back to), and the streaming reader (bulkupload.reading.sheetxml: expat checks, patterns cut out the rows).
CPU time (user + system), not wall time: the machine is shared, and a wall clock would measure the neighbours.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CANDIDATES = ("calamine", "calamine texts", "openpyxl", "lxml", "expat events", "sheetxml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--candidate", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.candidate:
        return measure(args.candidate, Path(args.path))
    files = args.files or sorted((ROOT / "var" / "bench" / "matrix").glob("*-1*0000.xlsx"), key=lambda p: (len(p.name), p.name))
    print("| file | reader | rows | CPU s (median) | peak RSS MB | µs per row |")
    print("|---|---|---:|---:|---:|---:|")
    for path in files:
        for candidate in CANDIDATES:
            runs = []
            for _ in range(args.runs):
                if (run := child(candidate, path)) is None:
                    break  # not installed, or failed: said once
                runs.append(run)
            if len(runs) < args.runs:
                continue
            cpu = statistics.median(run["cpu"] for run in runs)
            rss = statistics.median(run["peak_mb"] for run in runs)
            rows = runs[0]["rows"]
            print(f"| {path.name} | {candidate} | {rows:,} | {cpu:.2f} | {rss:.0f} | {cpu / rows * 1e6:.1f} |", flush=True)


def child(candidate: str, path: Path) -> dict | None:
    command = [sys.executable, str(HERE / "readers.py"), "--candidate", candidate, "--path", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        print(f"<!-- {candidate} on {path.name} failed: {done.stderr.strip().splitlines()[-1:]} -->")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(candidate: str, path: Path) -> None:
    sys.path.insert(0, str(HERE))
    import common

    common.setup_django()
    content = path.read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF)
    rows = READERS[candidate](content)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"rows": rows, "cpu": cpu, "peak_mb": after.ru_maxrss / 1024, "wall": time.perf_counter()}))


def calamine(content: bytes) -> int:
    from python_calamine import CalamineWorkbook

    return sum(1 for _row in CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).iter_rows())


def calamine_texts(content: bytes) -> int:
    """What the app's calamine path does: the sheet loaded whole, every value turned into its text."""
    from python_calamine import CalamineWorkbook

    from bulkupload.reading import Limits
    from bulkupload.reading.calamine import _rows

    sheet = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
    return sum(1 for _row in _rows(sheet, name="x.xlsx", limits=Limits(), title="Entries"))


def openpyxl_reader(content: bytes) -> int:
    from bulkupload.reading import Limits
    from bulkupload.reading.xlsx import SheetRows, _load

    workbook = _load(io.BytesIO(content), name="x.xlsx", limits=Limits())
    return sum(1 for _row in SheetRows(workbook.worksheets[0], workbook, name="x.xlsx", limits=Limits()))


def lxml_iterparse(content: bytes) -> int:
    import zipfile

    from lxml import etree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rows = 0
    with zipfile.ZipFile(io.BytesIO(content)) as archive, archive.open("xl/worksheets/sheet1.xml") as source:
        events = etree.iterparse(source, tag=main + "row", resolve_entities=False, no_network=True, load_dtd=False)
        for _event, row in events:
            for cell in row:
                cell.get("r"), cell.get("t"), cell.get("s"), cell.findtext(main + "v"), cell.findtext(f"{main}is/{main}t")
            rows += 1
            row.clear()
            while row.getprevious() is not None:
                del row.getparent()[0]
    return rows


def expat_events(content: bytes) -> int:
    from bulkupload.reading import Limits, sheetxml

    book = sheetxml.Workbook(io.BytesIO(content), name="x.xlsx", limits=Limits())
    rows = sheetxml.SheetRows(book, book.titles[0])
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        handler = sheetxml._SheetHandler(rows._cells(book.strings), rows.merged)
        count = 0
        with archive.open(book.parts[book.titles[0]]) as source:
            for _block in sheetxml._feed(handler.parser, source):
                count += len(handler.rows)
                handler.rows.clear()
    return count


def streaming(content: bytes) -> int:
    from bulkupload.reading import Limits, sheetxml

    book = sheetxml.Workbook(io.BytesIO(content), name="x.xlsx", limits=Limits())
    return sum(1 for _row in sheetxml.SheetRows(book, book.titles[0]))


READERS = {
    "calamine": calamine,
    "calamine texts": calamine_texts,
    "openpyxl": openpyxl_reader,
    "lxml": lxml_iterparse,
    "expat events": expat_events,
    "sheetxml": streaming,
}

if __name__ == "__main__":
    main()
