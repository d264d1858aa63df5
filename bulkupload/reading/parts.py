"""openpyxl's workbook reader as the engine opens workbooks: no size scan.

Both xlsx readers (:mod:`.xlsx`, :mod:`.sheetxml`) open a workbook's parts through it.
"""

from __future__ import annotations

from openpyxl.reader.excel import ExcelReader
from openpyxl.worksheet._read_only import ReadOnlyWorksheet


class _Sheet(ReadOnlyWorksheet):
    """openpyxl's read-only worksheet without its size: we never use the declared dimension.

    Finding it costs openpyxl a parse of the whole sheet when the ``<dimension>``
    element is missing (as in every workbook openpyxl writes in write-only mode):
    3 s of a 100,000-row upload, each time the file is opened.
    """

    def _get_size(self) -> None:
        pass


class _Reader(ExcelReader):
    """``load_workbook(read_only=True)`` with :class:`_Sheet` for its worksheets; chart sheets as openpyxl reads them."""

    def read_worksheets(self) -> None:
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            worksheet = _Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
            worksheet.sheet_state = sheet.state
            self.wb._sheets.append(worksheet)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, innermost last."""
    chain = [exc]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 10:
        chain.append(cause)
    return chain
