"""Set-based writes of many rows, for the chunks the services write.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per row and field:
its cost grows with the square of the batch size, and for 10,000 rows it takes
longer than all the rest of an upload. :func:`update_rows` sends one
``UPDATE … FROM (VALUES …)`` per chunk instead (SQLite 3.33+ and PostgreSQL),
and falls back to ``bulk_update`` on other databases.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router


def update_rows(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 1000) -> None:
    """Write ``fields`` of each saved instance in ``objs`` to its row.

    Like ``bulk_update``: no ``save()``, no signals, no ``auto_now``.
    """
    if not objs:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor not in ("sqlite", "postgresql"):
        model._default_manager.db_manager(alias).bulk_update(objs, fields, batch_size=batch_size)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    width = max(1, min(batch_size, 30000 // len(columns)))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), width):
            part = objs[start : start + width]
            sql = _update_sql(meta.db_table, columns, len(part), connection)
            params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in part for field in columns]
            cursor.execute(sql, params)


def _update_sql(table: str, columns: list[models.Field], count: int, connection) -> str:
    quote = connection.ops.quote_name
    names = [f"c{i}" for i in range(len(columns))]
    if connection.vendor == "postgresql":
        # Client-side parameters arrive untyped; cast each to its column's type.
        placeholder = "(" + ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in columns) + ")"
    else:
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    assignments = ", ".join(f"{quote(field.column)} = v.{name}" for field, name in zip(columns[1:], names[1:], strict=True))
    # Only quoted names of the model's own table and columns go into the text; values are parameters.
    return (
        f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([placeholder] * count)}) "  # noqa: S608
        f"UPDATE {quote(table)} SET {assignments} FROM v WHERE {quote(table)}.{quote(columns[0].column)} = v.{names[0]}"
    )
