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
    if connections[alias].vendor not in ("sqlite", "postgresql"):
        model._default_manager.db_manager(alias).bulk_update(objs, fields, batch_size=batch_size)
        return
    attnames = [model._meta.pk.attname, *(model._meta.get_field(name).attname for name in fields)]
    update_values(model, fields, [tuple(getattr(obj, name) for name in attnames) for obj in objs], batch_size=batch_size)


def update_values(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple], *, batch_size: int = 1000) -> None:
    """Like :func:`update_rows` for rows given as ``(pk, *values of fields)`` tuples: no model instances to build."""
    if not rows:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    if connection.vendor not in ("sqlite", "postgresql"):
        objs = [model(**{field.attname: value for field, value in zip(columns, row, strict=True)}) for row in rows]
        model._default_manager.db_manager(alias).bulk_update(objs, fields, batch_size=batch_size)
        return
    width = max(1, min(batch_size, 30000 // len(columns)))
    prepare = [field.get_db_prep_save for field in columns]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), width):
            part = rows[start : start + width]
            sql = _update_sql(meta.db_table, columns, len(part), connection)
            cursor.execute(sql, [to_db(value, connection) for row in part for to_db, value in zip(prepare, row, strict=True)])


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


def refresh_statistics(model: type[models.Model]) -> None:
    """Have PostgreSQL's planner count the rows just written (autovacuum would, later): a chunk's queries then use the indexes.

    Inside the transaction, ANALYZE sees the transaction's own rows; other databases need nothing.
    """
    connection = connections[router.db_for_write(model)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
