"""About how many rows a file has, cheaply: enough to choose between the request and a task worker.

Used by :mod:`bulkupload.background` to decide and by :mod:`bulkupload.tasks` to size
the progress bar; the readers count for real.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from typing import IO

from .. import conf
from ..exceptions import FileRejected
from .sniff import XLSX, sniff_format


def estimate_rows(fileobj: IO[bytes], *, name: str, sheet: str | None = None) -> int:
    """About how many rows the file has, cheaply (lines of a CSV, a sheet's declared size); 0 when unknown."""
    fileobj.seek(0)
    try:
        kind = sniff_format(fileobj.read(2048))
        fileobj.seek(0)
        if kind != XLSX:
            return _text_lines(fileobj)
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


def _text_lines(fileobj: IO[bytes]) -> int:
    """The lines of a CSV file, a line break inside a quoted cell not counted (and a last line without a break counted).

    Quotes are paired as they come; when they do not pair up (a stray ``"`` inside a cell), every line break counts.
    """
    breaks = within = 0
    quoted, last, newline = False, b"", b""
    for block in iter(lambda: fileobj.read(1 << 20), b""):
        # Lines end in \n (or \r\n); a file with none but \r has old Mac line ends.
        newline = newline or (b"\r" if b"\n" not in block and b"\r" in block else b"\n")
        for index, piece in enumerate(block.split(b'"')):
            quoted = quoted if index == 0 else not quoted
            count = piece.count(newline)
            breaks += count
            within += count if quoted else 0
        last = block[-1:]
    lines = breaks if quoted else breaks - within
    return lines + (1 if last and last not in b"\r\n" else 0)


DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="[A-Z]{1,3}\d+(?::[A-Z]{1,3}(\d+))?"')
#: A row element's start tag (not ``<rowBreaks>``), with or without a namespace prefix.
ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>/]")


def _declared_rows(fileobj: IO[bytes]) -> int:
    """The most rows a worksheet has: its declared size, read from the first bytes of the sheet part.

    Loading the workbook (shared strings, styles) to ask would cost seconds on a large file. A sheet that
    declares no size (openpyxl's write-only mode writes none) has its row elements counted as the part
    streams by (zlib and a regular expression: a fraction of what reading the rows costs), up to
    ``MAX_UNPACKED_PART_SIZE`` bytes; past that, its size is unknown (0).
    """
    best = 0
    with zipfile.ZipFile(fileobj) as archive:
        for info in archive.infolist():
            if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                continue
            with archive.open(info) as part:
                head = part.read(4096)
                match = DIMENSION.search(head)
                rows = int(match.group(1) or 1) if match else _counted_rows(part, head)
            if rows < 0:
                return 0
            best = max(best, rows)
    return best


def _counted_rows(part: IO[bytes], head: bytes) -> int:
    """The row elements of a sheet part whose first bytes ``head`` were read; -1 when the part is larger than allowed."""
    allowed = conf.get("MAX_UNPACKED_PART_SIZE")
    count, seen, pending, block = 0, len(head), b"", head
    while block:
        text = pending + block
        # A tag cut in two by the blocks is counted with the next block: carry what follows the last "<" near the end.
        cut = text.rfind(b"<", max(0, len(text) - 16))
        cut = len(text) if cut == -1 else cut
        count += len(ROW_TAG.findall(text, 0, cut))
        pending = text[cut:]
        if seen > allowed:
            return -1
        block = part.read(1 << 20)
        seen += len(block)
    return count + len(ROW_TAG.findall(pending))
