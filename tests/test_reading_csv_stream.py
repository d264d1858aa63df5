"""CSV is read as a stream: the text is decoded a block at a time, never held whole, and the rows and messages are
exactly those of the whole text read at once (``csv.reader`` over ``io.StringIO(text, newline="")``)."""

from __future__ import annotations

import codecs
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bulkupload.exceptions import FileRejected
from bulkupload.reading import CSV, Limits, build_table, open_table, text

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = {
    "crlf": "Name,City\r\nAda,Zürich\r\nBen,Köln\r\n",
    "lf-and-quoted-newlines": 'Name,Note\n"Ada","two\nlines, and a comma"\n"Ben","three\r\nlines\rhere"\n',
    "cr-only": "Name;City\rAda;Zürich\rBen;Köln\r",
    "sep-line": "sep=;\r\nName;City\r\nAda;Zürich\r\n",
    "blank-lines-first": "\r\n   \r\n\r\nName\tCity\r\nAda\tZürich\r\n",
    "no-final-newline": "Name,City\nAda,Zürich",
    "long-cells": "Name,Note\n" + "".join(f'Row {i},"{"é" * (i % 50)}, {"x" * (i % 97)}"\n' for i in range(3000)),
}


def reference(content: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the whole text read at once (``io.StringIO``), as the reader did before it streamed."""
    first = content.split("\n")[0].split("\r")[0].strip(" ")
    skip, delimiter = (1, first[4]) if first.lower().startswith("sep=") and len(first) == 5 else (0, None)
    if delimiter is None:
        line = next((line for line in content.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()), "")
        delimiter = text.sniff_delimiter(line)
    limits = Limits()
    rows = text._csv_rows(io.StringIO(content, newline=""), delimiter=delimiter, skip=skip, name="sample.csv", limits=limits)
    table = build_table(rows, name="sample.csv", limits=limits, format=CSV)
    return table.header, [cells for _number, cells in table.rows]


@pytest.mark.parametrize("block", [7, 64, text.BLOCK], ids=["block-7", "block-64", "block-default"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_streamed_csv_rows_are_those_of_the_whole_text(monkeypatch, sample, encoding, block):
    # Tiny blocks split every multi-byte letter, every "\r\n" and every quoted line between two reads.
    monkeypatch.setattr(text, "BLOCK", block)
    content = SAMPLES[sample]
    table = open_table(io.BytesIO(content.encode(encoding)), name="sample.csv")
    header, rows = reference(content)
    assert table.header == header and len(header) == 2
    assert [cells for _number, cells in table.rows] == rows and rows
    assert table.encoding == ("utf-8" if encoding == "cp1252" and content.isascii() else encoding)  # ASCII is UTF-8 too


@pytest.mark.parametrize("block", [5, text.BLOCK], ids=["block-5", "block-default"])
def test_a_stray_byte_is_named_at_its_line_and_position_whatever_the_blocks(monkeypatch, block):
    monkeypatch.setattr(text, "BLOCK", block)
    content = "Name,City\r\nAda,Zürich\r\nBen,K".encode() + b"\xf6ln\r\n"
    with pytest.raises(FileRejected) as caught:
        open_table(io.BytesIO(content), name="mixed.csv")
    assert str(caught.value).startswith("The file is UTF-8 text except for one byte: line 3 has the byte 0xF6 at position 6,")
    with_bom = codecs.BOM_UTF8 + b"Name,City\r\nAda,Z\xfcrich\r\n"
    with pytest.raises(FileRejected) as caught:
        open_table(io.BytesIO(with_bom), name="bom.csv")
    assert str(caught.value).startswith("The file's text is not valid UTF-8: line 2 has the byte 0xFC at position 6.")


def test_the_line_count_is_the_files_lines():
    content = "Name,City\r\n" + "Ada,Zürich\r\n" * 999
    book = text.CsvBook(io.BytesIO(content.encode("utf-16")), name="x.csv", limits=None, budget=None)
    assert book.value_rows() == 1001 and book.encoding == "utf-16"


_READ_ALL = r"""
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from bulkupload.reading import Limits, open_table
with open(sys.argv[1], "rb") as handle:
    table = open_table(handle, name="big.csv", limits=Limits(max_rows=1_000_000, max_file_size=200 << 20))
    rows = sum(1 for _row in table.rows)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"rows": rows, "peak_mb": peak}))
"""


def peak_reading(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEBUG": "0"}
    process = subprocess.run([sys.executable, "-c", _READ_ALL, str(path)], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_reading_a_large_csv_file_takes_no_more_memory_than_a_small_one(tmp_path):
    def write(path: Path, rows: int) -> Path:
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write("Employee email,Date,Project code,Hours,Billable,Activity,Note\r\n")
            for n in range(rows):
                handle.write(f"person{n % 40}@acme.example,2026-01-{1 + n % 28:02d},P-{n % 19:03d},7.5,yes,Development,tâche {n}\r\n")
        return path

    small = peak_reading(write(tmp_path / "small.csv", 1_000))
    large = peak_reading(write(tmp_path / "large.csv", 400_000))  # about 30 MB of text
    assert (small["rows"], large["rows"]) == (1_000, 400_000)
    # Held whole, the text alone would take 30 MB as bytes, 30 MB as str and 120 MB in io.StringIO's buffer.
    assert large["peak_mb"] - small["peak_mb"] < 15, (small, large)


def test_rows_read_on_while_the_same_file_is_read_elsewhere_are_unchanged(monkeypatch):
    # Staging hashes and stores the upload while a reader of it may be open: the reader keeps its own place.
    monkeypatch.setattr(text, "BLOCK", 64)
    content = SAMPLES["long-cells"].encode("utf-8")
    upload = io.BytesIO(content)
    table = open_table(upload, name="sample.csv")
    rows = table.rows
    first = [next(rows)[1] for _ in range(10)]
    upload.seek(0)
    assert upload.read() == content  # someone else reads the whole file, leaving it at its end
    upload.seek(5)
    _header, expected = reference(SAMPLES["long-cells"])
    assert [*first, *(cells for _number, cells in rows)] == expected
