"""CSV text: UTF-8 (with or without BOM), UTF-16 with BOM, or the fallback encoding;
comma, semicolon or tab, found from the header line."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO

from django.utils.translation import gettext as _

from .. import conf
from ..exceptions import FileRejected
from . import Limits, Table, data_rows, find_header
from .cells import cell_text, trim_trailing

DELIMITERS = (",", ";", "\t")


def decode(raw: bytes, *, name: str) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", conf.get("CSV_FALLBACK_ENCODING")]
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if "\x00" in text:
            raise FileRejected(_("The file contains NUL bytes; it is not a CSV text file."), file=name)
        return text
    raise FileRejected(_("The file's text cannot be decoded; save it as CSV UTF-8 and upload again."), file=name)


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_csv(fileobj: IO[bytes], *, name: str, limits: Limits) -> Table:
    text = decode(fileobj.read(), name=name)
    lines = text.splitlines()
    start = 0
    delimiter = None
    if lines and lines[0].strip().lower().startswith("sep=") and len(lines[0].strip()) == 5:
        delimiter = lines[0].strip()[4]
        start = 1
    if delimiter is None:
        first = next((line for line in lines[start:] if line.strip()), "")
        delimiter = sniff_delimiter(first)
    rows = _csv_rows(io.StringIO(text), delimiter=delimiter, skip=start, name=name)
    header_row, header = find_header(rows, limits=limits, name=name)
    header = trim_trailing(header)
    return Table(
        header=header,
        rows=data_rows(rows, width=len(header), limits=limits, name=name, header=header),
        file_name=name,
        header_row=header_row,
        format="csv",
    )


def _csv_rows(stream: io.StringIO, *, delimiter: str, skip: int, name: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(stream, delimiter=delimiter)
    record = 0
    try:
        for values in reader:
            if reader.line_num <= skip:
                continue
            # Records, not physical lines: a quoted cell may span lines, as in Excel.
            record += 1
            yield record + skip, [cell_text(v) for v in values]
    except csv.Error as exc:
        raise FileRejected(
            _("The CSV text is malformed (%(reason)s).") % {"reason": exc},
            file=name,
            row=record + skip + 1,
        ) from None
