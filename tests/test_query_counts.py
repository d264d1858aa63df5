"""The shape of the work: validating and applying cost a fixed number of queries per chunk, never one per row."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bulkupload import services
from bulkupload.models import UploadBatch
from bulkupload.spec import get_spec
from project.timesheets.models import Employee, Entry, Project

from .helpers import SPEC, Wizard, xlsx_file


@pytest.fixture
def roster(acme):
    emails = list(Employee.objects.filter(tenant=acme).order_by("pk").values_list("email", flat=True))
    codes = list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True))
    return emails, codes


def timesheet(count, roster, *, hours=0.5, note="n"):
    """``count`` rows with distinct keys: every employee on every project, a day back each 950 rows."""
    emails, codes = roster
    start = datetime.date.today() - datetime.timedelta(days=30)
    per_day = len(emails) * len(codes)
    return [
        [
            emails[i % len(emails)],
            start - datetime.timedelta(days=i // per_day),
            codes[(i // len(emails)) % len(codes)],
            hours,
            "no",
            "Admin",
            note,
        ]
        for i in range(count)
    ]


def queries_to_stage(user, content):
    batch = services.create_batch(spec=get_spec(SPEC), user=user)
    upload = io.BytesIO(content)
    with CaptureQueriesContext(connection) as captured:
        services.stage_upload(batch=batch, upload=upload, name="entries.xlsx")
    return batch, len(captured)


def queries_to_apply(batch):
    with CaptureQueriesContext(connection) as captured:
        services.apply_batch(batch_id=batch.pk)
    return len(captured)


def alice_user():
    return get_user_model().objects.get(username="alice")


def test_uploading_1000_new_rows_takes_as_many_queries_as_100(demo, roster):
    small, small_queries = queries_to_stage(alice_user(), xlsx_file(timesheet(100, roster)))
    large, large_queries = queries_to_stage(alice_user(), xlsx_file(timesheet(1000, roster)))
    assert (small.new_count, large.new_count) == (100, 1000)
    assert large_queries == small_queries


def test_confirming_1000_new_rows_takes_as_many_queries_as_100(demo, roster):
    small, _ = queries_to_stage(alice_user(), xlsx_file(timesheet(100, roster)))
    small_queries = queries_to_apply(small)
    Entry.objects.all().delete()
    large, _ = queries_to_stage(alice_user(), xlsx_file(timesheet(1000, roster)))
    large_queries = queries_to_apply(large)
    assert Entry.objects.count() == 1000
    assert large_queries == small_queries


def test_updating_1000_rows_takes_as_many_queries_as_100(demo, roster):
    counts = {}
    for size in (100, 1000):
        Entry.objects.all().delete()
        first, _ = queries_to_stage(alice_user(), xlsx_file(timesheet(size, roster)))
        services.apply_batch(batch_id=first.pk)
        again, stage_queries = queries_to_stage(alice_user(), xlsx_file(timesheet(size, roster, hours=0.75, note="changed")))
        assert again.update_count == size
        counts[size] = (stage_queries, queries_to_apply(again))
        assert UploadBatch.objects.get(pk=again.pk).updated_count == size
    assert counts[1000] == counts[100]


def test_queries_grow_by_a_fixed_number_per_chunk_not_per_row(demo, roster, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "CHUNK_SIZE": 100}
    one_chunk, one_chunk_queries = queries_to_stage(alice_user(), xlsx_file(timesheet(100, roster)))
    ten_chunks, ten_chunks_queries = queries_to_stage(alice_user(), xlsx_file(timesheet(1000, roster)))
    assert ten_chunks.new_count == 1000
    per_chunk = (ten_chunks_queries - one_chunk_queries - keys_drawn(9)) / 9
    assert per_chunk <= 4
    apply_one = queries_to_apply(one_chunk)
    Entry.objects.all().delete()
    apply_ten = queries_to_apply(ten_chunks)
    assert (apply_ten - apply_one) / 9 <= 4


def test_revalidating_every_row_takes_as_many_queries_for_1000_rows_as_for_100(demo, roster):
    small, _ = queries_to_stage(alice_user(), xlsx_file(timesheet(100, roster)))
    large, _ = queries_to_stage(alice_user(), xlsx_file(timesheet(1000, roster)))
    captured = {}
    for batch in (small, large):
        with CaptureQueriesContext(connection) as queries:
            services.validate_batch(batch=batch)
        captured[batch.total_rows] = len(queries)
    assert captured[1000] == captured[100]


def test_preview_page_of_1000_rows_costs_what_a_page_of_100_does_and_counts_nothing(alice, roster):
    costs = {}
    for size in (100, 1000):
        wizard = Wizard(alice).start()
        wizard.upload(xlsx_file(timesheet(size, roster)))
        with CaptureQueriesContext(connection) as queries:
            response = wizard.preview(page=2)
        assert response.status_code == 200
        assert 'id="row-52"' in response.content.decode()
        row_counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "uploadrow" in q["sql"].lower()]
        assert row_counts == []
        costs[size] = len(queries)
    assert costs[1000] == costs[100]


#: Queries to stage, revalidate and confirm new rows with CHUNK_SIZE 100 on SQLite: a fixed part, then per chunk 2 to
#: stage (the chunk's existing entries, its insert; the file rule is handed the rows as they are read, not read back), 4
#: to revalidate (its rows, their existing entries, the update of the results, the file rule's read) and 4 to confirm.
#: Staging's fixed part includes deciding the values step (22 queries whatever the number of rows: the date columns and
#: each choice or lookup column's unmatched values), which used to happen on the first GET of the preview.
PINNED = {
    100: (38, 17, 13),  # 1 chunk
    250: (42, 25, 21),  # 3 chunks, the last one half full
    1000: (56, 53, 49),  # 10 chunks
}


def keys_drawn(chunks):
    """On PostgreSQL a chunk of staged rows is inserted in two statements: their ids drawn from the sequence, then the
    ``COPY`` of the rows (``bulkupload.pgcopy``): one more query a chunk to stage."""
    return chunks if connection.vendor == "postgresql" else 0


@pytest.mark.parametrize("size", sorted(PINNED))
def test_staging_revalidating_and_confirming_take_exactly_the_pinned_queries_per_chunk(demo, roster, settings, size):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "CHUNK_SIZE": 100}
    batch, stage_queries = queries_to_stage(alice_user(), xlsx_file(timesheet(size, roster)))
    with CaptureQueriesContext(connection) as revalidated:
        services.validate_batch(batch=batch)
    apply_queries = queries_to_apply(batch)
    assert Entry.objects.count() == size
    chunks = -(-size // 100)
    stage, revalidate, apply = PINNED[size]
    assert (stage, revalidate, apply) == (36 + 2 * chunks, 13 + 4 * chunks, 9 + 4 * chunks)
    assert (stage_queries, len(revalidated), apply_queries) == (stage + keys_drawn(chunks), revalidate, apply)
