"""Memory: a million-row workbook is staged (read, validated, written) with flat memory, in a capped process.

The reading tests (tests/test_sheetxml.py) show the reader alone stays flat; this one runs the whole of
``services.stage_upload`` — the compiled row validation, the staged rows' encoding and inserts, the file's
counts — over 1,000,000 rows into a database of its own, and the child's peak resident memory must stay
under 200 MB. It takes a few minutes on two cores: ``-m "not slow"`` leaves it out.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import on_postgres
from .helpers import xlsx_file
from .hostile import inline

ROOT = Path(__file__).resolve().parent.parent
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]
ROWS = 1_000_000

_STAGE_ALL = r"""
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from django.conf import settings
settings.BULKUPLOAD = {**getattr(settings, "BULKUPLOAD", {}), **json.loads(sys.argv[2])}
from django.contrib.auth import get_user_model
from django.core.management import call_command
from bulkupload import services
from bulkupload.spec import get_spec

call_command("migrate", verbosity=0)
batch = services.create_batch(spec=get_spec("adoption_app-penguin"), user=get_user_model().objects.create_user("memory"))
with open(sys.argv[1], "rb") as handle:
    services.stage_upload(batch=batch, upload=handle, name="penguins.xlsx")
batch.refresh_from_db()
last = batch.rows.order_by("-row_number").values_list("row_number", "data").first()
# VmHWM, not ru_maxrss: a child forked from a large pytest process keeps the parent's ru_maxrss across exec.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"total": batch.total_rows, "new": batch.new_count, "invalid": batch.invalid_count, "last": last, "peak_mb": peak}))
"""


def penguin_workbook(path: Path, rows: int) -> None:
    """Penguins written part by part as a stream: inline text, numbers and "NA" cells, every 1000th row invalid."""
    frame = xlsx_file([], header=HEADER)
    header = "".join(inline(f"{chr(65 + i)}1", text) for i, text in enumerate(HEADER))
    with zipfile.ZipFile(io.BytesIO(frame)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                target.writestr(info.filename, source.read(info.filename))
        with target.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1">{header}</row>'.encode())
            for start in range(2, rows + 2, 10_000):
                part.write("".join(_row(n) for n in range(start, min(start + 10_000, rows + 2))).encode())
            part.write(b"</sheetData></worksheet>")


def _row(n: int) -> str:
    species = ("Adelie", "Gentoo", "Chinstrap")[n % 3]
    length = "NA" if n % 7 == 0 else f"{35 + n % 20}.{n % 10}"
    year = "199" if n % 1000 == 0 else str(2007 + n % 3)  # a year that is a number still; the species breaks below
    cells = [
        inline(f"A{n}", "Emperor" if n % 1000 == 0 else species),
        inline(f"B{n}", ("Torgersen", "Biscoe", "Dream")[n % 3]),
        inline(f"C{n}", length) if length == "NA" else f'<c r="C{n}"><v>{length}</v></c>',
        f'<c r="D{n}"><v>{13 + n % 8}.{n % 10}</v></c>',
        f'<c r="E{n}"><v>{180 + n % 50}</v></c>',
        f'<c r="F{n}"><v>{3000 + n % 2000}</v></c>',
        inline(f"G{n}", ("male", "female", "NA")[n % 3]),
        f'<c r="H{n}"><v>{year}</v></c>',
    ]
    return f'<row r="{n}">{"".join(cells)}</row>'


@pytest.mark.slow
@pytest.mark.skipif(on_postgres(), reason="the child stages into a SQLite database of its own: the SQLite run covers it")
def test_a_million_row_workbook_is_staged_with_flat_memory_in_a_capped_process(tmp_path):
    path = tmp_path / "penguins.xlsx"
    penguin_workbook(path, ROWS)
    limits = {"MAX_ROWS": 2_000_000, "MAX_CELLS": 20_000_000, "MAX_READ_SECONDS": 1800, "FILE_ROOT": str(tmp_path / "files")}
    limits |= {"MAX_FILE_SIZE": 500 << 20, "MAX_UNPACKED_SIZE": 1 << 30, "MAX_UNPACKED_PART_SIZE": 1 << 30}
    limits["MAX_COMPRESSION_RATIO"] = 10_000

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))  # Django and a database driver map more than the reader

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'staging.sqlite3'}", "DEBUG": "0"}
    process = subprocess.run(
        [sys.executable, "-c", _STAGE_ALL, str(path), json.dumps(limits)],
        capture_output=True,
        text=True,
        timeout=1800,
        preexec_fn=capped,
        cwd=ROOT,
        env=env,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert (result["total"], result["invalid"]) == (ROWS, ROWS // 1000)
    assert result["new"] == ROWS - ROWS // 1000
    number, data = result["last"]
    assert number == ROWS + 1 and data["species"] == ("adelie", "gentoo", "chinstrap")[number % 3]
    assert result["peak_mb"] < 200, result["peak_mb"]
