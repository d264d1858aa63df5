"""The engine's settings: ``settings.BULKUPLOAD`` over these defaults."""

from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The template the upload pages extend: the engine's own complete page, or the host's (blocks "title",
    # "extra_head" and "content", and Django's messages shown).
    "BASE_TEMPLATE": "bulkupload/base.html",
    # Where uploaded files are kept until applied or purged; never a served folder.
    "FILE_ROOT": None,
    "MAX_FILE_SIZE": 20 * 1024 * 1024,
    "MAX_ROWS": 100_000,
    # Sheets up to this many rows are read by python-calamine (fast, but it holds the sheet in memory);
    # larger ones stream through openpyxl so that memory stays flat however long the file is.
    "CALAMINE_MAX_ROWS": 20_000,
    "MAX_COLUMNS": 200,
    "MAX_CELL_LENGTH": 10_000,
    # Cells a workbook may hold (every <c> element of every sheet, empty or not) and a table may span (rows ×
    # columns): each costs a reader time, whatever its file's size.
    "MAX_CELLS": 4_000_000,
    # A run of more blank rows than this ends the table; values below it are refused, naming their row.
    "MAX_BLANK_ROWS": 1000,
    # Seconds one file may spend in the reader (scanning, parsing, building rows; not validating or saving).
    "MAX_READ_SECONDS": 120,
    # Workbooks read by python-calamine (which holds a sheet whole) span at most this many cells, empty or not.
    "CALAMINE_MAX_CELLS": 1_000_000,
    # Workbooks (.xlsx are zips): checked from the archive's directory before anything is unpacked.
    "MAX_UNPACKED_SIZE": 200 * 1024 * 1024,
    "MAX_UNPACKED_PART_SIZE": 150 * 1024 * 1024,
    # The shared strings are held in memory while a workbook is read (about three times their size).
    "MAX_SHARED_STRINGS_SIZE": 50 * 1024 * 1024,
    # ...and by count: each different text costs openpyxl about 20 µs to load and is an object in memory.
    "MAX_SHARED_STRINGS": 500_000,
    "MAX_COMPRESSION_RATIO": 100,
    "COMPRESSION_RATIO_CHECKED_ABOVE": 1024 * 1024,
    "MAX_ZIP_PARTS": 2000,
    # The header is the first well-filled row among this many from the first non-blank one.
    "HEADER_SEARCH_ROWS": 10,
    # Rows per chunk when staging, validating and applying.
    "CHUNK_SIZE": 1000,
    # Rows are cleaned by the row form's fields without the form's per-row machinery, and a cell text a column has
    # cleaned once is not cleaned again (bulkupload.compiled); False: every row through the form's full_clean().
    "COMPILED_VALIDATION": True,
    # ...remembering at most this many distinct cell texts per column.
    "VALIDATION_MEMO_SIZE": 10_000,
    # File rules get the staged rows with equal values shared (one object each), keeping at most this many values.
    "SHARED_VALUES_MAX": 100_000,
    "PREVIEW_PAGE_SIZE": 50,
    "PURGE_AFTER_HOURS": 72,
    # Abandoned uploads are purged automatically when a new upload starts, at most this often (0: only by the command
    # or the purge task).
    "PURGE_EVERY_MINUTES": 60,
    # Uploads a user may have open (not applied or rolled back) at once.
    "MAX_OPEN_UPLOADS_PER_USER": 20,
    # Bytes of uploaded files a user's open uploads may keep stored together.
    "MAX_STORED_BYTES_PER_USER": 100 * 1024 * 1024,
    # Uploads of one user that may wait for or run on a task worker at once, so one user cannot fill the queue.
    "MAX_QUEUED_TASKS_PER_USER": 2,
    # A request body larger than MAX_FILE_SIZE plus this (form fields, multipart headers) is refused unread.
    "REQUEST_SIZE_MARGIN": 1024 * 1024,
    # Files with more rows than this are read, checked and applied by a task (django.tasks).
    "TASK_THRESHOLD_ROWS": 5000,
    # With the in-process ImmediateBackend, run that work on a thread of the web process so the request returns at
    # once and the progress page shows (False: in the request, as the backend says). `make run` turns it on.
    "TASKS_ON_THREAD": False,
    # A task reading or applying that has reported no progress for this long is taken as stopped (its worker
    # died): the progress page releases the batch so the user can try again. Waiting for a worker never counts.
    "TASK_STALLED_AFTER_SECONDS": 600,
    # The JSON API's pages of rows: at most this many rows however large a page_size a client asks for.
    "API_MAX_PAGE_SIZE": 500,
    # Webhooks: a list of {"url", "secret", optional "specs": [slugs], optional "events": [names]}; none by default.
    "WEBHOOKS": [],
    # Tries per event and receiver before giving up; the wait before the second try, doubled after each failure.
    "WEBHOOK_MAX_ATTEMPTS": 5,
    "WEBHOOK_RETRY_DELAY_SECONDS": 10,
    # How long one attempt waits for the receiver's answer.
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    # The django.tasks backend that delivers webhooks; an in-process (immediate) backend delivers on a thread instead.
    "WEBHOOK_TASK_BACKEND": "default",
    "CSV_FALLBACK_ENCODING": "cp1252",
    "DATE_INPUT_FORMATS": ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d"],
    # A "Duplicate of row …" message names at most this many other rows ("… and 97 more").
    "DUPLICATE_ROWS_NAMED": 10,
    # A lookup column (a foreign key named by a unique field) gets a dropdown in the template up to this many values.
    "LOOKUP_DROPDOWN_MAX_VALUES": 500,
    # A lookup column's edit boxes in the preview suggest the scope's values (a <datalist>) up to this many; beyond it, none.
    "SUGGESTIONS_MAX": 200,
    # The values step lists at most this many distinct unmatched values per column (the most frequent first).
    "VALUE_MAPPING_MAX_VALUES": 200,
}


def get(name: str) -> Any:
    """Return one engine setting, the host's value first."""
    value = getattr(settings, "BULKUPLOAD", {}).get(name, DEFAULTS[name])
    if name == "FILE_ROOT" and not value:
        return str(Path(settings.BASE_DIR) / "var" / "uploads")
    return value
