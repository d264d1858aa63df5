"""On PostgreSQL, insert_values streams its rows with COPY (bulkupload/pgcopy.py): to the caller, exactly an INSERT.

What is stored is covered by tests/test_bulk.py on both databases; these cover what only COPY could get wrong:
its errors, its place among the logged queries, and keys the database will not take from it.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.postgres.functions import RandomUUID
from django.db import IntegrityError, connection, models, transaction
from django.test.utils import CaptureQueriesContext, isolate_apps

from bulkupload.bulk import insert_values
from bulkupload.models import UploadBatch, UploadRow

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")


@pytest.fixture
def batch(demo):
    return UploadBatch.objects.create(owner=get_user_model().objects.get(username="alice"), spec="timesheet-entries")


def test_a_broken_constraint_is_djangos_integrity_error_and_nothing_of_the_chunk_is_kept(batch):
    insert_values(UploadRow, ["batch", "row_number", "target_pk"], [(batch.pk, 1, "")])

    with pytest.raises(IntegrityError, match="bulkupload_row_unique_number"), transaction.atomic():
        insert_values(UploadRow, ["batch", "row_number", "target_pk"], [(batch.pk, 2, ""), (batch.pk, 1, ""), (batch.pk, 3, "")])

    assert list(batch.rows.values_list("row_number", flat=True)) == [1]
    assert insert_values(UploadRow, ["batch", "row_number", "target_pk"], [(batch.pk, 2, "")], returning=True)  # usable again


def test_each_copy_is_logged_as_a_query_with_the_keys_drawn_before_it(batch):
    rows = [(batch.pk, n, "") for n in range(250)]

    with CaptureQueriesContext(connection) as captured:
        ids = insert_values(UploadRow, ["batch", "row_number", "target_pk"], rows, batch_size=100, returning=True)

    statements = [query["sql"].split()[0] for query in captured]
    assert statements == ["SELECT", "COPY"] * 3
    assert ids == list(batch.rows.order_by("row_number").values_list("pk", flat=True))


def table_of_names(table, id_column, **fields):
    """An unmanaged model of ``table`` (made here, dropped with the test's transaction): ``id_column``, then a name."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} ({id_column} PRIMARY KEY, name varchar(20))")
    meta = type("Meta", (), {"app_label": "bulkupload", "db_table": table, "managed": False})
    attributes = {"__module__": __name__, "Meta": meta, "name": models.CharField(max_length=20), "__str__": lambda self: self.name}
    return type(table.title().replace("_", ""), (models.Model,), {**attributes, **fields})


@isolate_apps("bulkupload")
def test_keys_the_database_makes_without_a_sequence_come_back_from_an_insert(batch):
    made = table_of_names(
        "bulkupload_test_made", "id uuid DEFAULT gen_random_uuid()", id=models.UUIDField(primary_key=True, db_default=RandomUUID())
    )

    ids = insert_values(made, ["name"], [("a",), ("b",), ("c",)], batch_size=2, returning=True)

    assert len(set(ids)) == 3 and None not in ids
    assert sorted(made.objects.values_list("pk", "name")) == sorted(zip(ids, ["a", "b", "c"], strict=True))


@isolate_apps("bulkupload")
def test_an_identity_the_database_always_generates_takes_the_keys_drawn_from_it(batch):
    always = table_of_names("bulkupload_test_always", "id bigint GENERATED ALWAYS AS IDENTITY")

    with CaptureQueriesContext(connection) as captured:
        ids = insert_values(always, ["name"], [("a",), ("b",)], returning=True)

    assert [query["sql"].split()[0] for query in captured] == ["SELECT", "COPY"]
    assert sorted(always.objects.values_list("pk", "name")) == list(zip(ids, ["a", "b"], strict=True))
