"""Hostile files, built small on disk, and a reader run in a subprocess with memory and CPU limits.

:func:`read_bounded` runs :func:`bulkupload.reading.open_table` over a file in a
fresh Python process whose address space and CPU time are capped
(``RLIMIT_AS``, ``RLIMIT_CPU``) and which is killed after a wall-clock ceiling:
a reader that hangs or balloons fails the test instead of the machine.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from .helpers import HEADER, xlsx_file

ROOT = Path(__file__).resolve().parent.parent
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

_READER = r"""
import json, os, resource, sys
from django.conf import settings
# The reader needs only its settings: no apps, no database (and a third of the start-up time).
settings.configure(USE_I18N=False, BULKUPLOAD=json.loads(sys.argv[2]))
from bulkupload.exceptions import FileRejected
from bulkupload.reading import open_table

result = {}
try:
    with open(sys.argv[1], "rb") as handle:
        table = open_table(handle, name=os.path.basename(sys.argv[1]))
        result = {"header": table.header, "header_row": table.header_row, "sheet": table.sheet, "rows": 0, "first": [], "problems": {}}
        for number, cells in table.rows:
            result["rows"] += 1
            if len(result["first"]) < 5:
                result["first"].append([number, [str(c) for c in cells]])
            marks = [getattr(c, "problem", "") for c in cells] + [getattr(cells, "problem", "")]
            if any(marks) and len(result["problems"]) < 5:
                result["problems"][str(number)] = [m for m in marks if m]
except FileRejected as exc:
    result = {"rejected": str(exc)}
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def read_bounded(path: Path, *, memory_mb: int = 256, cpu_seconds: int = 20, **settings) -> dict:
    """Read ``path`` with ``open_table`` in a subprocess limited to ``memory_mb`` of address space and ``cpu_seconds``.

    Returns what the reader made of it: ``{"rejected": message}``, or the header,
    the row count, the first rows and the marked problems. Fails the test when the
    process dies (out of memory, out of time) instead of answering.
    """

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.run(
        [sys.executable, "-c", _READER, str(path), json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=cpu_seconds * 3,
        preexec_fn=limit,
        cwd=ROOT,
        env=env,
    )
    assert process.returncode == 0, f"the reader died (status {process.returncode}): {process.stderr[-3000:]}"
    return json.loads(process.stdout.strip().splitlines()[-1])


_UPLOAD_STEP = r"""
import json, os, resource, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
import django
django.setup()
from django.conf import settings
settings.BULKUPLOAD = {**settings.BULKUPLOAD, **json.loads(sys.argv[2])}
from bulkupload import mapping
from bulkupload.exceptions import FileRejected
from bulkupload.reading import open_table
from bulkupload.spec import get_spec

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
name = os.path.basename(sys.argv[1])
result = {}
with open(sys.argv[1], "rb") as handle:
    try:
        plan = mapping.plan_upload(get_spec("timesheet-entries"), handle, name=name)
        result = {"sheets": plan.sheets, "sheet": plan.sheet, "header": plan.header, "plan": plan.as_json()}
        table = open_table(handle, name=name, sheet=plan.sheet)
        result["rows"] = sum(1 for _ in table.rows)
    except FileRejected as exc:
        result["rejected"] = str(exc)
result["added_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
print(json.dumps(result))
"""


def upload_step_bounded(path: Path, *, memory_mb: int = 512, cpu_seconds: int = 20, **settings) -> dict:
    """What the upload step does with ``path`` (plan it, then read every row of the chosen sheet), in a subprocess
    capped at ``memory_mb`` of address space and ``cpu_seconds``: a broken budget kills it and fails the test.

    Returns ``{"rejected": message}`` or the plan and row count, with ``added_mb``: peak memory above Django's own.
    """

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "SECRET_KEY": os.environ.get("SECRET_KEY", "tests-only-not-secret")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.run(
        [sys.executable, "-c", _UPLOAD_STEP, str(path), json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=cpu_seconds * 6 + 30,  # wall clock: generous on a loaded machine; RLIMIT_CPU is the guard
        preexec_fn=limit,
        cwd=ROOT,
        env=env,
    )
    assert process.returncode == 0, f"the upload step died (status {process.returncode}): {process.stderr[-3000:]}"
    return json.loads(process.stdout.strip().splitlines()[-1])


_FUZZ = r"""
import json, os, sys, traceback
from django.conf import settings
settings.configure(USE_I18N=False)
from bulkupload.exceptions import FileRejected
from bulkupload.reading import open_book

counts, escaped = {"read": 0, "refused": 0}, []
for name in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], name), "rb") as handle:
        try:
            book = open_book(handle, name=name)
            try:
                for sheet in book.sheet_names or [None]:
                    table = book.table(sheet)
                    for _row in table.rows:
                        pass
            finally:
                book.close()
            counts["read"] += 1
        except FileRejected:
            counts["refused"] += 1
        except Exception as exc:
            escaped.append([name, type(exc).__name__, traceback.format_exc()[-600:]])
print(json.dumps({**counts, "escaped": escaped}))
"""


def fuzz_bounded(folder: Path, *, memory_mb: int = 512, cpu_seconds: int = 120) -> dict:
    """Open every file in ``folder`` as the upload step would, each sheet read to its end, in one capped subprocess:
    ``{"read": n, "refused": n, "escaped": [[file, exception, traceback], ...]}``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.run(
        [sys.executable, "-c", _FUZZ, str(folder)],
        capture_output=True,
        text=True,
        timeout=cpu_seconds * 3,
        preexec_fn=limit,
        cwd=ROOT,
        env=env,
    )
    assert process.returncode == 0, f"the reader died (status {process.returncode}): {process.stderr[-3000:]}"
    return json.loads(process.stdout.strip().splitlines()[-1])


# --- building files -------------------------------------------------------------------------


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rezip(workbook: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """``workbook`` with some parts replaced or added, as a tool other than Excel might write it."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


def zip_of(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def header_row_xml(row: int = 1) -> str:
    letters = "ABCDEFG"
    return f'<row r="{row}">' + "".join(inline(f"{letters[i]}{row}", label) for i, label in enumerate(HEADER)) + "</row>"


def sheet_xml(rows: str, *, dimension: str = "A1", doctype: str = "", after: str = "") -> bytes:
    """A worksheet part with ``rows`` (XML) in its sheetData."""
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{doctype}'
        f'<worksheet xmlns="{MAIN_NS}"><dimension ref="{dimension}"/><sheetData>{rows}</sheetData>{after}</worksheet>'
    ).encode()


def workbook_with_sheet(rows: str, **kwargs) -> bytes:
    """A real workbook (written by openpyxl) whose first sheet is replaced by ``rows``."""
    return rezip(xlsx_file([], header=["x"]), replace={"xl/worksheets/sheet1.xml": sheet_xml(rows, **kwargs)})


def ole_file(*streams: str) -> bytes:
    """A minimal OLE2 compound file (what .xls and password-protected workbooks are) naming ``streams``."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<II", header, 0x2C, 1, 1)  # one FAT sector; the directory starts at sector 1
    struct.pack_into("<IIIII", header, 0x38, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([0xFFFFFFFF] * 108))
    fat = struct.pack("<128I", 0xFFFFFFFD, 0xFFFFFFFE, *([0xFFFFFFFF] * 126))
    directory = bytearray(512)
    for index, (name, kind) in enumerate([("Root Entry", 5), *((s, 2) for s in streams)]):
        raw = name.encode("utf-16-le") + b"\x00\x00"
        offset = index * 128
        directory[offset : offset + len(raw)] = raw
        struct.pack_into("<HBB", directory, offset + 64, len(raw), kind, 1)
        sibling = index + 1 if 0 < index < len(streams) else 0xFFFFFFFF
        child = 1 if index == 0 and streams else 0xFFFFFFFF
        struct.pack_into("<III", directory, offset + 68, 0xFFFFFFFF, sibling, child)
        struct.pack_into("<IQ", directory, offset + 116, 0xFFFFFFFE, 0)
    return bytes(header) + fat + bytes(directory)


def declare_smaller(archive: bytes, part: str, declared: int) -> bytes:
    """``archive`` whose directory and local header claim ``part`` unpacks to ``declared`` bytes: a lying zip."""
    data = bytearray(archive)
    name = part.encode()
    local = data.find(b"PK\x03\x04")
    while local >= 0:
        length = struct.unpack_from("<H", data, local + 26)[0]
        if bytes(data[local + 30 : local + 30 + length]) == name:
            struct.pack_into("<I", data, local + 22, declared)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + length]) == name:
            struct.pack_into("<I", data, central + 24, declared)
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


# --- the crafted files of issue 11: small uploads that cost a reader far more than their size -----------

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def workbook_of(sheets: dict[str, bytes], *, shared_strings: bytes | None = None) -> bytes:
    """A minimal .xlsx written by hand: ``sheets`` (title → worksheet XML) and optional shared strings."""
    types = [
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
        '<Default Extension="xml" ContentType="application/xml"/>',
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>',
    ]
    rels, entries, parts = [], [], {}
    for index, (title, xml) in enumerate(sheets.items(), start=1):
        types.append(
            f'<Override PartName="/xl/worksheets/sheet{index}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        )
        rels.append(f'<Relationship Id="rId{index}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{index}.xml"/>')
        entries.append(f'<sheet name="{title}" sheetId="{index}" r:id="rId{index}"/>')
        parts[f"xl/worksheets/sheet{index}.xml"] = xml
    if shared_strings is not None:
        types.append(
            '<Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
        rels.append(f'<Relationship Id="rId{len(sheets) + 1}" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>')
        parts["xl/sharedStrings.xml"] = shared_strings
    content_types = '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' + "".join(types) + "</Types>"
    root_rels = (
        f'<Relationships xmlns="{PACKAGE_RELS}"><Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    book = f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>' + "".join(entries) + "</sheets></workbook>"
    book_rels = f'<Relationships xmlns="{PACKAGE_RELS}">' + "".join(rels) + "</Relationships>"
    return zip_of(
        {
            "[Content_Types].xml": content_types.encode(),
            "_rels/.rels": root_rels.encode(),
            "xl/workbook.xml": book.encode(),
            "xl/_rels/workbook.xml.rels": book_rels.encode(),
            **parts,
        }
    )


def bare_sheet(rows: str) -> bytes:
    """A worksheet part without ``<dimension>``: only the rows say how large the sheet is."""
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>{rows}</sheetData></worksheet>'.encode()


def inline_no_ref(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def padded_header_to_last_row(padding: int = 16_376) -> bytes:
    """(a) The header padded with ``padding`` empty cells without ``r`` before its last value, then one cell on
    Excel's last row: python-calamine sizes its grid from both (1,048,576 × the padded width, 32 bytes a cell)."""
    header = "".join(inline_no_ref(label) for label in HEADER) + "<c/>" * padding + inline_no_ref("Last")
    return workbook_of({"Entries": bare_sheet(f"<row>{header}</row><row>{inline('A1048576', 'x')}</row>")})


def one_cell_on_the_last_row() -> bytes:
    """(b) A header and one cell at ``G1048576`` in a row without ``r``: a million rows between them."""
    header = "".join(inline(f"{'ABCDEFG'[i]}1", label) for i, label in enumerate(HEADER))
    return workbook_of({"Entries": bare_sheet(f'<row r="1">{header}</row><row>{inline("G1048576", "x")}</row>')})


def a_million_empty_rows(count: int = 1_000_000) -> bytes:
    """(c) A header and then ``count`` empty ``<row>`` elements."""
    rows = header_row_xml() + "".join(f'<row r="{n}"/>' for n in range(2, count + 2))
    return workbook_of({"Entries": bare_sheet(rows)})


def sheets_sharing_strings(sheets: int = 20, strings: int = 276_000) -> bytes:
    """(d) ``sheets`` small sheets whose header and rows index into one large shared strings part."""
    sst = (
        f'<sst xmlns="{MAIN_NS}" count="{strings}" uniqueCount="{strings}">'
        + "".join(f"<si><t>s{n}</t></si>" for n in range(strings))
        + "</sst>"
    ).encode()
    letters = "ABCDEFG"

    def row(number: int, first: int) -> str:
        return f'<row r="{number}">' + "".join(f'<c r="{letters[i]}{number}" t="s"><v>{first + i}</v></c>' for i in range(7)) + "</row>"

    # A formula (with its saved result) in each sheet: the openpyxl reader, which loads every shared string, reads it.
    formula = '<row r="6"><c r="A6"><f>1+1</f><v>2</v></c></row>'
    parts = {f"Sheet{s}": bare_sheet("".join(row(n, (s * 50 + n) * 7) for n in range(1, 6)) + formula) for s in range(1, sheets + 1)}
    return workbook_of(parts, shared_strings=sst)


def long_header_csv(cells: int = 10, length: int = 100_000) -> bytes:
    """(e) A CSV whose header cells hold ``length`` characters each."""
    return (
        ",".join(("Hours" + "x" * length)[:length] for _ in range(cells)) + "\r\n" + ",".join("1" for _ in range(cells)) + "\r\n"
    ).encode()


#: name → (file name, builder), the crafted files of issue 11 in the order the issue lists them.
CRAFTED = {
    "a: padded header, cell on the last row": ("padded.xlsx", padded_header_to_last_row),
    "a: padded to 310 columns (10 GB grid)": ("padded-310.xlsx", lambda: padded_header_to_last_row(302)),
    "a: padded to 30 columns (1 GB grid)": ("padded-30.xlsx", lambda: padded_header_to_last_row(22)),
    "b: one cell at G1048576": ("far-cell.xlsx", one_cell_on_the_last_row),
    "c: a million empty rows": ("empty-rows.xlsx", a_million_empty_rows),
    "d: 20 sheets, 276,000 shared strings": ("shared.xlsx", sheets_sharing_strings),
    "e: CSV, 10 header cells of 100,000 characters": ("long-header.csv", long_header_csv),
}
