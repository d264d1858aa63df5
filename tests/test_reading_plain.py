"""Whether python-calamine may read a workbook is decided in the extent scan's one pass over the file (issue 15).

A DTD or entity, a formula, a merged, error or ISO-date cell anywhere leaves the workbook to the openpyxl reader
(``streaming=False``), whichever part holds it: the sheets and shared strings the scan reads anyway, and every
other XML part (workbook, styles, relationships, properties), looked through afterwards.
"""

import io
import zipfile

import pytest
from openpyxl import Workbook

from bulkupload.reading import Limits
from bulkupload.reading.budget import Budget
from bulkupload.reading.extent import inspect_workbook
from bulkupload.reading.xlsx import XlsxBook


def plain_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Entries"
    sheet.append(["Name", "Note"])
    sheet.append(["Ada", "shared text"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewritten(content: bytes, part: str, change) -> bytes:
    """``content`` with ``part`` changed by ``change`` (bytes → bytes), every other part as it was."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info.filename, change(data) if info.filename == part else data)
    return out.getvalue()


def is_plain(content: bytes) -> bool | None:
    return inspect_workbook(io.BytesIO(content), name="x.xlsx", limits=Limits(), plain=True).plain


def test_a_workbook_of_values_is_plain_and_opened_by_calamine():
    content = plain_workbook()
    assert is_plain(content) is True
    book = XlsxBook(io.BytesIO(content), name="x.xlsx", limits=Limits(), budget=_budget(), streaming=False)
    assert book._calamine is not None
    assert [list(cells) for _n, cells in book.table().rows] == [["Ada", "shared text"]]


@pytest.mark.parametrize(
    "part",
    [
        "xl/worksheets/sheet1.xml",  # scanned for its extent
        "xl/styles.xml",  # not scanned: looked through after
        "docProps/app.xml",
        "xl/_rels/workbook.xml.rels",
    ],
)
def test_a_comment_or_dtd_in_any_part_leaves_the_workbook_to_openpyxl(part):
    # "<!" opens a DTD, an entity or a comment: only the openpyxl reader (through defusedxml) is trusted with it.
    content = rewritten(plain_workbook(), part, lambda data: data.replace(b">", b"><!-- note -->", 1))
    assert is_plain(content) is False
    assert is_plain(plain_workbook()) is True


def test_a_formula_is_not_plain_and_its_workbook_is_read_by_openpyxl():
    book = Workbook()
    book.active.append(["Name", "Double"])
    book.active.append(["Ada", "=2*2"])
    buffer = io.BytesIO()
    book.save(buffer)
    assert is_plain(buffer.getvalue()) is False
    opened = XlsxBook(io.BytesIO(buffer.getvalue()), name="x.xlsx", limits=Limits(), budget=_budget(), streaming=False)
    assert opened._calamine is None


def _budget() -> Budget:
    return Budget.start(Limits(), name="x.xlsx")
