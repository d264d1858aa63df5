"""PostgreSQL's ``COPY … FROM STDIN`` for :func:`bulkupload.bulk.insert_values` (the staged rows).

An ``INSERT … SELECT * FROM UNNEST(…)`` has the server parse one array text per
column and the client build it; ``COPY`` streams the rows as they are, each
value written by psycopg's own (C) dumpers. On 100,000 staged rows it took
about two thirds of the time; for narrow rows of numbers and keys (the host's
records) it saves nothing, so they keep the ``INSERT``.

``COPY`` returns nothing: where the caller needs the new rows' primary keys,
they are drawn first from the column's own sequence (one ``SELECT nextval(…)``
a chunk) and written with the rows, as the column's default would have written
them. Used with psycopg 3 only (psycopg2 has no row-by-row ``copy``); a key the
caller needs back that has no sequence of its own (a UUID the database makes,
say) leaves the insert to the caller's ``INSERT … RETURNING``. Each statement
is logged as Django logs a query (``connection.queries``, the
``django.db.backends`` logger) and its errors are Django's (``IntegrityError``,
``DataError``, …).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from django.db import models


def usable(connection: Any) -> bool:
    """Whether inserts on ``connection`` can go through ``COPY``: PostgreSQL through psycopg 3."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def copy_rows(
    connection: Any,
    model: type[models.Model],
    columns: list[models.Field],
    rows: Sequence[tuple],
    prepare: list[Callable],
    *,
    returning: bool,
    width: int,
) -> list | None:
    """``COPY`` ``rows`` (values of ``columns``, made ready by ``prepare``) into the model's table, ``width`` at a time.

    ``returning``: the rows' new primary keys, in order, drawn from the key's sequence before each chunk and written
    with it; None when the key has no sequence to draw from (found at the first chunk: nothing was written, and the
    caller inserts the rows itself).
    """
    meta = model._meta
    quote = connection.ops.quote_name
    if returning:
        columns, prepare = [meta.pk, *columns], [lambda value, connection: value, *prepare]
    # Only quoted names of the model's own table and columns go into the text; the values are streamed.
    sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(field.column) for field in columns)}) FROM STDIN"
    pks: list = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), width):
            part = rows[start : start + width]
            if returning:
                keys = _draw_keys(cursor, connection, meta, len(part))
                if keys is None:
                    return None
                pks.extend(keys)
                part = [(pk, *row) for pk, row in zip(keys, part, strict=True)]
            logged = cursor.debug_sql(f"{sql} -- {len(part)} rows") if hasattr(cursor, "debug_sql") else contextlib.nullcontext()
            with logged, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                write = copy.write_row
                for row in part:
                    write([to_db(value, connection) for to_db, value in zip(prepare, row, strict=True)])
    return pks


def _draw_keys(cursor: Any, connection: Any, meta: Any, count: int) -> list | None:
    """``count`` new values of the primary key's sequence (serial or identity); None when it has none."""
    table, column = connection.ops.quote_name(meta.db_table), meta.pk.column
    # The sequence is looked up once (OFFSET 0 keeps the planner from doing it for every row: four times slower).
    # No sequence: nextval(NULL) is NULL. COPY writes an identity column even where it is GENERATED ALWAYS.
    cursor.execute(
        "SELECT nextval(q.s) FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS s OFFSET 0) AS q, generate_series(1, %s)",
        [table, column, count],
    )
    keys = [row[0] for row in cursor.fetchall()]
    if not keys or keys[0] is None:
        return None
    return [meta.pk.to_python(key) for key in keys]
