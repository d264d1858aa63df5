"""pytest plugin for bench/calamine_check.py: keep a copy of every .xlsx the test suite saves with openpyxl."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

from openpyxl.workbook.workbook import Workbook

_counter = itertools.count()


def pytest_configure(config) -> None:
    folder = Path(os.environ["CALAMINE_CAPTURE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    original = Workbook.save

    def save_and_keep(self, filename):
        original(self, filename)
        if isinstance(filename, io.BytesIO):
            content = filename.getvalue()
        elif hasattr(filename, "read"):
            return
        else:
            content = Path(filename).read_bytes()
        (folder / f"{next(_counter):05d}.xlsx").write_bytes(content)

    Workbook.save = save_and_keep
