"""CSV text: UTF-8 (with or without BOM), UTF-16 with BOM, or the fallback encoding;
comma, semicolon or tab, found from the header line or a ``sep=`` line."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO

from django.utils.translation import gettext as _

from .. import conf
from ..exceptions import FileRejected
from . import CSV, Limits, Table, build_table
from .cells import cell_text

DELIMITERS = (",", ";", "\t", "|")


def decode(raw: bytes, *, name: str) -> str:
    """The file's text: by its byte-order mark, else strict UTF-8, else ``CSV_FALLBACK_ENCODING``."""
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
    """The delimiter the header line uses most, outside quotes; comma when none."""
    outside = "".join(part for index, part in enumerate(first_line.split('"')) if index % 2 == 0)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_csv(fileobj: IO[bytes], *, name: str, limits: Limits) -> Table:
    fileobj.seek(0)
    text = decode(fileobj.read(limits.max_file_size + 1), name=name)
    skip, delimiter = 0, None
    first_end = _line_end(text, 0)
    first = text[:first_end].strip(" ")  # not the tab that "sep=\t" names
    if first.lower().startswith("sep=") and len(first) == 5:
        # Excel's hint line: "sep=;" names the delimiter and is not part of the table.
        delimiter, skip = first[4], 1
    if delimiter is None:
        start = 0
        while start < len(text) and not text[start : _line_end(text, start)].strip():
            start = _line_end(text, start) + 1
        delimiter = sniff_delimiter(text[start : _line_end(text, start)])
    rows = _csv_rows(io.StringIO(text, newline=""), delimiter=delimiter, skip=skip, name=name, limits=limits)
    return build_table(rows, name=name, limits=limits, format=CSV)


def _line_end(text: str, start: int) -> int:
    ends = [i for i in (text.find("\n", start), text.find("\r", start)) if i >= 0]
    return min(ends) if ends else len(text)


def _csv_rows(stream: io.StringIO, *, delimiter: str, skip: int, name: str, limits: Limits) -> Iterator[tuple[int, list[str]]]:
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
        if "field larger than field limit" in str(exc):
            message = _('A cell holds more than %(limit)d characters; at most %(max)d are allowed. A quote (") may not be closed.') % {
                "limit": csv.field_size_limit(),
                "max": limits.max_cell_length,
            }
        else:
            message = _("The CSV text is malformed (%(reason)s).") % {"reason": exc}
        raise FileRejected(message, file=name, row=record + skip + 1) from None
