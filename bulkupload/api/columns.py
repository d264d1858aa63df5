"""Column matching over the API: a client's ``{"file header": "column key" | null}`` as the positions the services take."""

from __future__ import annotations

from typing import IO, Any

from django.utils.translation import gettext as _

from .. import mapping
from ..exceptions import FileRejected
from ..models import UploadBatch
from ..reading import Book
from ..spec import UploadSpec


class MappingRefused(FileRejected):
    """The client's column choices do not fit the file or the spec; ``code`` says how."""

    def __init__(self, message: str, *, code: str, column: str | None = None) -> None:
        super().__init__(message, column=column)
        self.code = code


def plan(spec: UploadSpec, fileobj: IO[bytes], *, name: str, sheet: str | None) -> mapping.FilePlan:
    """:func:`mapping.plan_upload`, refusing a sheet the workbook does not have (rather than reading another)."""
    book, found = open_planned(spec, fileobj, name=name, sheet=sheet)
    book.close()
    return found


def open_planned(spec: UploadSpec, fileobj: IO[bytes], *, name: str, sheet: str | None) -> tuple[Book, mapping.FilePlan]:
    """:func:`mapping.open_planned`, refusing a sheet the workbook does not have (rather than reading another); the
    caller stages the rows from the book and closes it."""
    book, found = mapping.open_planned(spec, fileobj, name=name, sheet=sheet or None)
    try:
        check_sheet(found, sheet)
    except MappingRefused:
        book.close()
        raise
    return book, found


def held_plan(spec: UploadSpec, batch: UploadBatch, *, sheet: str | None) -> mapping.FilePlan:
    """The held file's plan with ``sheet`` chosen: the one made when it was uploaded (the file is not opened again),
    or, for a file held before plans were kept, the file planned now."""
    kept = mapping.FilePlan.from_json(batch.plan)
    if kept is None:
        with batch.source_file.open("rb") as stored:
            return plan(spec, stored, name=batch.file_name, sheet=sheet)
    check_sheet(kept, sheet)
    return kept.choose(sheet or None)


def check_sheet(found: mapping.FilePlan, sheet: str | None) -> None:
    """:class:`MappingRefused` when ``sheet`` is not a sheet of the planned workbook."""
    if sheet and found.sheets and sheet not in found.sheets:
        raise MappingRefused(
            _("The workbook has no sheet “%(sheet)s”; its sheets are %(sheets)s.")
            % {"sheet": sheet, "sheets": ", ".join(f"“{s}”" for s in found.sheets)},
            code="unknown_sheet",
        )


def positions(spec: UploadSpec, header: list[str], chosen: dict[str, str | None], *, user: Any) -> dict[str, int]:
    """Column key → file column index: the client's choices, and the suggestion for each header it left out."""
    by_text: dict[str, int] = {}
    for index, text in enumerate(header):
        if text:
            by_text.setdefault(text, index)
    unknown = [text for text in chosen if text not in by_text]
    if unknown:
        raise MappingRefused(
            _("The file has no column %(names)s; its columns are %(header)s.")
            % {"names": _quote(unknown), "header": _quote([text for text in header if text])},
            code="unknown_header",
            column=unknown[0],
        )
    keys = {column.key for column in spec.columns}
    bad = [key for key in chosen.values() if key and key not in keys]
    if bad:
        raise MappingRefused(
            _("There is no column %(names)s to upload into; the columns are %(keys)s.")
            % {"names": _quote(bad), "keys": _quote(sorted(keys))},
            code="unknown_column",
        )
    found: dict[str, int] = {}
    for text, key in chosen.items():
        if not key:
            continue
        if key in found:
            raise MappingRefused(
                _("“%(column)s” is already fed by the file column “%(other)s”.") % {"column": key, "other": header[found[key]]},
                code="duplicate_column",
                column=text,
            )
        found[key] = by_text[text]
    for suggestion in mapping.suggest_mapping(spec, header, mapping.remembered_mapping(user, spec)):
        if suggestion.header not in chosen and suggestion.proposed and suggestion.proposed not in found:
            found[suggestion.proposed] = suggestion.index
    return found


def file_columns(spec: UploadSpec, batch: UploadBatch, *, user: Any, sheet: str | None) -> dict[str, Any]:
    """The held file's columns with their suggested targets and a few values, for a client answering the matching."""
    found = held_plan(spec, batch, sheet=sheet or batch.sheet_name or None)
    suggestions = mapping.suggest_mapping(spec, found.header, mapping.remembered_mapping(user, spec))
    return {
        "sheet": found.sheet,
        "sheets": found.sheets,
        "columns": [
            {
                "header": s.header,
                "suggestion": s.proposed or None,
                "samples": [row[s.index] for row in found.samples if s.index < len(row)],
            }
            for s in suggestions
        ],
    }


def _quote(names: list[str]) -> str:
    return ", ".join(f"“{name}”" for name in names)
