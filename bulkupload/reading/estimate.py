"""About how many rows a file has, cheaply: enough to choose between the request and a task worker.

Used by :mod:`bulkupload.background` to decide and by :mod:`bulkupload.tasks` to size
the progress bar; the readers count for real.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from typing import IO

from ..exceptions import FileRejected
from .sniff import XLSX, sniff_format


def estimate_rows(fileobj: IO[bytes], *, name: str, sheet: str | None = None) -> int:
    """About how many rows the file has, cheaply (lines of a CSV, a sheet's declared size); 0 when unknown."""
    fileobj.seek(0)
    try:
        kind = sniff_format(fileobj.read(2048))
        fileobj.seek(0)
        if kind != XLSX:
            return sum(block.count(b"\n") for block in iter(lambda: fileobj.read(1 << 20), b""))
        return _declared_rows(fileobj)
    except (
        FileRejected,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,
        KeyError,
        ValueError,
        TypeError,
        OSError,
        EOFError,
        IndexError,
    ):
        return 0  # the reader will say what is wrong with the file
    finally:
        fileobj.seek(0)


DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="[A-Z]{1,3}\d+(?::[A-Z]{1,3}(\d+))?"')
#: Bytes of sheet XML per row, to guess a sheet's size when it declares none.
BYTES_PER_ROW = 100


def _declared_rows(fileobj: IO[bytes]) -> int:
    """The largest row count a worksheet declares, read from the first bytes of each sheet part only.

    Loading the workbook (shared strings, styles) to ask would cost seconds on a large file; an
    estimate is enough to choose between the request and a worker, and the reader counts for real.
    """
    best = 0
    with zipfile.ZipFile(fileobj) as archive:
        for info in archive.infolist():
            if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                continue
            with archive.open(info) as part:
                head = part.read(4096)
            match = DIMENSION.search(head)
            rows = int(match.group(1) or 1) if match else info.file_size // BYTES_PER_ROW
            best = max(best, rows)
    return best
