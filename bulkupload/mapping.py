"""Match a file's header to a spec's columns: automatically, by suggestion, or as the user chose."""

from __future__ import annotations

import enum
import functools
import os
from dataclasses import dataclass, field, replace
from typing import IO, Any

from django.apps import apps as django_apps
from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .exceptions import FileRejected
from .likeness import likeness, loose
from .reading import Book, open_book
from .spec import Column, UploadSpec, normalize_header

#: Suggestions scoring below this are not offered.
FUZZY_THRESHOLD = 0.6


class Match(float, enum.Enum):
    """How a header matched a column, as its score: above any likeness (at most 1), best first."""

    REMEMBERED = 3.0  # the user chose this column for this header before
    EXACT = 2.0  # the label, key or an alias, as written
    NORMALISED = 1.5  # the same, ignoring case, surrounding spaces and underscores
    LOOSE = 1.2  # the same, ignoring punctuation and spacing too


@dataclass
class ColumnMapping:
    """Which file column feeds which spec column."""

    #: column key → index of the file column
    positions: dict[str, int]
    #: column key → the header as written in the file
    headers: dict[str, str]
    #: headers of the file that match no column
    ignored: list[str]

    def row_values(self, cells: list[str]) -> dict[str, str]:
        return {key: cells[index] for key, index in self.positions.items()}


@dataclass
class Suggestion:
    """One file column and the spec columns it may feed, best first."""

    index: int
    header: str
    #: ``(column key, score)``, best first; a :class:`Match` or, below it, a likeness between 0.6 and 1.
    candidates: list[tuple[str, float]] = field(default_factory=list)
    #: The column key proposed for this file column ("" to ignore it).
    proposed: str = ""


def column_names(column: Column) -> list[str]:
    """Every way a header may name ``column``: label, key and aliases, as written and, when marked for
    translation, in every configured language (a German template uploaded by an English speaker matches)."""
    return list(_column_names(column, translation.get_language(), tuple(code for code, _name in settings.LANGUAGES)))


@functools.lru_cache(maxsize=1024)
def _column_names(column: Column, active: str | None, languages: tuple[str, ...]) -> tuple[str, ...]:
    # Switching languages for each text costs more than the rest of planning an upload: once per process.
    # Only texts marked for translation, and only in languages for which a catalog of the host's own could
    # translate them: with Django's ~100 default LANGUAGES, loading every language's catalogs took 0.4–1.2 s.
    names: list[str] = []
    for text in (column.label, column.key, *column.aliases):
        names.append(str(text))
        if isinstance(text, Promise):
            for code in [None, *_translated_languages(languages)]:
                with translation.override(code):
                    names.append(str(text))
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=8)
def _translated_languages(languages: tuple[str, ...]) -> tuple[str, ...]:
    """The configured languages with a catalog that could translate a spec's texts: in ``LOCALE_PATHS``, the engine, the
    apps that declare specs and the apps of their models (a file lookup per language, never a catalog load)."""
    from .spec import all_specs

    paths = [str(path) for path in settings.LOCALE_PATHS]
    apps_ = [django_apps.get_containing_app_config(__name__)]
    for found in all_specs():
        apps_ += [django_apps.get_containing_app_config(type(found).__module__), found.model._meta.app_config]
    paths += [os.path.join(config.path, "locale") for config in apps_ if config is not None]
    # The catalogs present, by locale folder: one listing per folder rather than a file lookup per language.
    present = {
        name
        for path in dict.fromkeys(paths)
        if os.path.isdir(path)
        for name in os.listdir(path)
        if os.path.exists(os.path.join(path, name, "LC_MESSAGES", "django.mo"))
    }
    return tuple(code for code in languages if {translation.to_locale(code), translation.to_locale(code).split("_")[0]} & present)


def header_lookup(spec: UploadSpec) -> dict[str, str]:
    """Normalised header text → column key, for labels, keys and aliases."""
    lookup: dict[str, str] = {}
    for column in spec.columns:
        for text in column_names(column):
            lookup.setdefault(normalize_header(text), column.key)
    return lookup


def map_header(
    spec: UploadSpec,
    header: list[str],
    *,
    file_name: str = "",
    sheet: str | None = None,
    header_row: int = 1,
    positions: dict[str, int] | None = None,
) -> ColumnMapping:
    """Map ``header`` to the spec's columns or raise :class:`FileRejected` saying which are wrong.

    Without ``positions`` the headers are matched by label, key and aliases; with
    ``positions`` (column key → file column index, as the user chose) those are used.
    """
    if positions is not None:
        return _chosen_mapping(spec, header, positions, where={"file": file_name, "sheet": sheet, "row": header_row})
    lookup = header_lookup(spec)
    found: dict[str, int] = {}
    ignored: list[str] = []
    duplicates: list[str] = []
    for index, text in enumerate(header):
        key = lookup.get(normalize_header(text))
        if key is None:
            if text:
                ignored.append(text)
            continue
        if key in found:
            duplicates.append(text)
            continue
        found[key] = index
    where = {"file": file_name, "sheet": sheet, "row": header_row}
    if duplicates:
        raise FileRejected(
            ngettext("The column %(names)s appears more than once.", "The columns %(names)s appear more than once.", len(duplicates))
            % {"names": _quote(duplicates)},
            **where,
        )
    _check_required(spec, found, ignored, where)
    return ColumnMapping(positions=found, headers={k: header[i] for k, i in found.items()}, ignored=ignored)


def _chosen_mapping(spec: UploadSpec, header: list[str], positions: dict[str, int], *, where: dict[str, Any]) -> ColumnMapping:
    keys = {c.key for c in spec.columns}
    chosen = {k: i for k, i in positions.items() if k in keys and 0 <= i < len(header)}
    used = set(chosen.values())
    ignored = [text for index, text in enumerate(header) if text and index not in used]
    _check_required(spec, chosen, ignored, where)
    ordered = dict(sorted(chosen.items(), key=lambda item: item[1]))
    return ColumnMapping(positions=ordered, headers={k: header[i] for k, i in ordered.items()}, ignored=ignored)


def _check_required(spec: UploadSpec, found: dict[str, int], ignored: list[str], where: dict[str, Any]) -> None:
    missing = [c.label for c in spec.columns if c.required and c.key not in found]
    if missing:
        message = ngettext(
            "The required column %(names)s is missing.",
            "The required columns %(names)s are missing.",
            len(missing),
        ) % {"names": _quote(missing)}
        if ignored:
            message += " " + _("The file has these other columns: %(names)s.") % {"names": _quote(ignored)}
        raise FileRejected(message, **where)


def maps_automatically(spec: UploadSpec, header: list[str]) -> bool:
    """Whether ``header`` maps without asking: every required column found, no unmatched header resembling a missing column."""
    suggestions = suggest_mapping(spec, header)
    proposed = {s.proposed for s in suggestions if s.proposed}
    if any(c.required and c.key not in proposed for c in spec.columns):
        return False
    return all(not s.proposed or s.candidates[0][1] >= Match.NORMALISED for s in suggestions)


@dataclass
class FilePlan:
    """How to read an uploaded file: which sheet, and whether its columns map without asking.

    Made once, when the file is uploaded, and kept with the upload (:meth:`as_json`,
    ``UploadBatch.plan``): the columns step and staging use it instead of reading the
    file again.
    """

    #: The workbook's sheets that have a header row ([] for a CSV file).
    sheets: list[str]
    sheet: str | None
    header: list[str]
    automatic: bool
    #: A few data rows of the chosen sheet, to show what each column holds.
    samples: list[list[str]] = field(default_factory=list)
    #: Every sheet's (or the CSV file's, under None) header, samples and rows with a value.
    heads: dict[str | None, SheetHead] = field(default_factory=dict)
    format: str = ""
    #: The text encoding of a CSV file ("" for a workbook).
    encoding: str = ""

    def rows(self, sheet: str | None = None) -> int:
        """About how many rows ``sheet`` (the chosen one by default) has; 0 when unknown."""
        head = self.heads.get(sheet if sheet is not None else self.sheet)
        return head.rows if head is not None else 0

    def choose(self, sheet: str | None) -> FilePlan:
        """This plan with ``sheet`` chosen (when the file has it), its header and samples in front."""
        chosen = sheet if sheet in self.heads else self.sheet
        head = self.heads.get(chosen)
        if head is None:
            return self
        return replace(self, sheet=chosen, header=head.header, samples=head.samples)

    def as_json(self) -> dict[str, Any]:
        """What :meth:`from_json` rebuilds; sample texts are cut short, they are only a hint."""
        return {
            "version": 1,
            "format": self.format,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "automatic": self.automatic,
            "sheets": [
                {
                    "name": name,
                    "header": head.header,
                    "samples": [[text[:SAMPLE_LENGTH] for text in row] for row in head.samples],
                    "rows": head.rows,
                }
                for name, head in self.heads.items()
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FilePlan | None:
        """The plan kept with an upload, or None when there is none (uploads older than the plan)."""
        if not data or data.get("version") != 1:
            return None
        heads = {entry["name"]: SheetHead(entry["header"], entry["samples"], entry["rows"]) for entry in data["sheets"]}
        plan = cls(
            sheets=[name for name in heads if name is not None],
            sheet=data["sheet"],
            header=[],
            automatic=data["automatic"],
            heads=heads,
            format=data["format"],
            encoding=data["encoding"],
        )
        return plan.choose(data["sheet"])


@dataclass
class SheetHead:
    """A sheet's header row, a few data rows and how many rows hold a value."""

    header: list[str]
    samples: list[list[str]]
    rows: int = 0


#: Sheets looked at for a header, at most.
MAX_SHEETS = 20
#: Characters of a sample cell kept in the plan.
SAMPLE_LENGTH = 200


def plan_upload(spec: UploadSpec, fileobj: IO[bytes], *, name: str, sheet: str | None = None) -> FilePlan:
    """:func:`plan_book` of ``fileobj``, opened for it and closed: for a caller that does not read the rows too."""
    book, plan = open_planned(spec, fileobj, name=name, sheet=sheet)
    book.close()
    return plan


def open_planned(spec: UploadSpec, fileobj: IO[bytes], *, name: str, sheet: str | None = None) -> tuple[Book, FilePlan]:
    """``fileobj`` opened and checked once, and its plan: staging reads the rows from the same book, which the
    caller closes (it is closed here when the file is refused)."""
    book = open_book(fileobj, name=name)
    try:
        return book, plan_book(spec, book, name=name, sheet=sheet)
    except BaseException:
        book.close()
        raise


def plan_book(spec: UploadSpec, book: Book, *, name: str, sheet: str | None = None) -> FilePlan:
    """Which sheet to read (``sheet``, or the first with the spec's headers) and whether the user must map columns, from
    the opened ``book`` (left open). When more than one sheet, or none, has the spec's headers, the user chooses."""
    if not book.sheet_names:
        head = read_head(book, None)
        automatic = _read_without_asking(spec, head.header)
        return FilePlan([], None, head.header, automatic, head.samples, heads={None: head}, format=book.format, encoding=book.encoding)
    heads: dict[str | None, SheetHead] = {}
    first_error: FileRejected | None = None
    for title in book.sheet_names[:MAX_SHEETS]:
        try:
            heads[title] = read_head(book, title)
        except FileRejected as exc:  # an empty sheet
            first_error = first_error or exc
    if not heads:
        raise first_error or FileRejected(_("The workbook has no worksheet."), file=name)
    matching = [title for title, head in heads.items() if maps_automatically(spec, head.header)]
    only = next(iter(heads.values())).header if len(heads) == 1 else None
    automatic = sheet is None and (len(matching) == 1 or (only is not None and _read_without_asking(spec, only)))
    chosen = sheet if sheet in heads else matching[0] if matching else next(iter(heads))
    plan = FilePlan(sheets=list(heads), sheet=chosen, header=[], automatic=automatic, heads=heads, format=book.format)
    return plan.choose(chosen)


def read_head(book: Book, sheet: str | None, *, samples: int = 3) -> SheetHead:
    """The header row of ``sheet`` of ``book`` (a CSV file's with None) and up to ``samples`` data rows."""
    table = book.table(sheet)
    rows: list[list[str]] = []
    try:
        for _number, cells in table.rows:
            if len(rows) >= samples:
                break
            rows.append([str(text) for text in cells])
    except FileRejected:
        pass  # a bad row is reported when the file is staged; samples are only a hint
    finally:
        table.rows.close()
    return SheetHead(table.header, rows, book.value_rows(sheet))


def _read_without_asking(spec: UploadSpec, header: list[str]) -> bool:
    """The header maps, or has no other column to choose from (then staging names the missing columns)."""
    lookup = header_lookup(spec)
    return maps_automatically(spec, header) or all(normalize_header(text) in lookup for text in header if text)


# --- suggestions -------------------------------------------------------------------------


def _score(spec_column: Column, header: str) -> float:
    texts = column_names(spec_column)
    if any(header.strip() == t for t in texts):
        return Match.EXACT
    if any(normalize_header(header) == normalize_header(t) for t in texts):
        return Match.NORMALISED
    if any(loose(header) == loose(t) for t in texts):
        return Match.LOOSE
    return max(likeness(header, t, threshold=FUZZY_THRESHOLD) for t in texts)


def suggest_mapping(spec: UploadSpec, header: list[str], remembered: dict[str, str] | None = None) -> list[Suggestion]:
    """For each non-blank file column, the spec columns it may feed (best first) and one proposal.

    ``remembered`` (normalised header → column key, "" for ignored) is what the user
    chose before; it comes first. Proposals never give one spec column to two file
    columns: the best-scoring pairs win.
    """
    remembered = remembered or {}
    keys = {c.key for c in spec.columns}
    suggestions: list[Suggestion] = []
    for index, text in enumerate(header):
        if not text:
            continue
        scores = {c.key: _score(c, text) for c in spec.columns}
        memory = remembered.get(normalize_header(text))
        if memory in keys:
            scores[memory] = Match.REMEMBERED
        candidates = sorted(((k, s) for k, s in scores.items() if s >= FUZZY_THRESHOLD), key=lambda item: -item[1])
        suggestions.append(Suggestion(index=index, header=text, candidates=candidates))
    pairs = sorted(
        ((score, s.index, key, s) for s in suggestions for key, score in s.candidates),
        key=lambda item: (-item[0], item[1]),
    )
    taken: set[str] = set()
    for _score_value, _index, key, suggestion in pairs:
        if suggestion.proposed or key in taken:
            continue
        if remembered.get(normalize_header(suggestion.header)) == "" and _score_value < Match.EXACT:
            continue  # the user chose to ignore this header before
        suggestion.proposed = key
        taken.add(key)
    return suggestions


# --- remembered choices ------------------------------------------------------------------


def remembered_mapping(user: Any, spec: UploadSpec) -> dict[str, str]:
    """What ``user`` last chose for ``spec``: normalised header → column key ("" for ignored)."""
    from .models import RememberedMapping

    found = RememberedMapping.objects.filter(owner=user, spec=spec.slug).values_list("choices", flat=True).first()
    return dict(found or {})


def _quote(names: list[str]) -> str:
    return ", ".join(f"“{n}”" for n in names)
