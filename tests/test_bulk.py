"""The engine's own writes (bulkupload/bulk.py) store exactly what Django's bulk_create, bulk_update and Model(**values) would.

Each test runs on SQLite and on PostgreSQL (CI runs the suite on both), so every way of sending
values is covered: one parameter per value, PostgreSQL's arrays of column values, and its ``COPY``
(insert_values).
"""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_init

from bulkupload.bulk import NewRecords, insert_instances, insert_records, insert_values, update_rows, update_values
from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Employee, Entry, Project

COLUMNS = [field.attname for field in Entry._meta.concrete_fields if not field.primary_key]


@pytest.fixture
def values(acme):
    employees = list(Employee.objects.filter(tenant=acme).order_by("pk").values_list("pk", flat=True)[:3])
    projects = list(Project.objects.filter(tenant=acme, active=True).order_by("pk").values_list("pk", flat=True)[:2])
    day = datetime.date(2023, 3, 1)
    rows = []
    for i, (employee, project) in enumerate((e, p) for e in employees for p in projects):
        row = {"tenant_id": acme.pk, "employee_id": employee, "project_id": project, "date": day, "hours": Decimal("7.25")}
        if i % 2:  # half the rows leave billable, activity and note to their defaults
            row |= {"billable": True, "activity": "Design", "note": f"note {i} — ünïcode, 'quotes'"}
        rows.append(row)
    return rows


def stored(entries):
    return sorted(Entry.objects.filter(pk__in=[e.pk for e in entries]).values_list(*COLUMNS))


def test_new_records_are_the_instances_keywords_would_build(values, acme):
    build = NewRecords(Entry)
    for row in values:
        fast, plain = build(**row), Entry(**row)
        assert [getattr(fast, name) for name in ["id", *COLUMNS]] == [getattr(plain, name) for name in ["id", *COLUMNS]]
        assert fast._state.adding and fast.pk is None
    # A related object given by field name takes Django's own path, and still works.
    employee = Employee.objects.filter(tenant=acme).first()
    record = build(tenant=acme, employee=employee, project_id=values[0]["project_id"], date=values[0]["date"], hours=1)
    assert record.employee_id == employee.pk and record.tenant_id == acme.pk and record.note == ""


def test_insert_instances_stores_what_bulk_create_stores(values):
    ours = [NewRecords(Entry)(**row) for row in values]
    insert_instances(Entry, ours)
    assert all(e.pk is not None and not e._state.adding for e in ours)
    mine = stored(ours)
    Entry.objects.filter(pk__in=[e.pk for e in ours]).delete()

    theirs = Entry.objects.bulk_create([Entry(**row) for row in values])
    assert mine == stored(theirs)


def test_insert_instances_gives_each_instance_its_own_primary_key(values):
    records = [Entry(**row) for row in values]
    insert_instances(Entry, records)
    for record, row in zip(records, values, strict=True):
        saved = Entry.objects.get(pk=record.pk)
        assert (saved.employee_id, saved.project_id, saved.note) == (row["employee_id"], row["project_id"], row.get("note", ""))


def test_insert_values_and_update_rows_round_trip_json_and_text(demo):
    batch = UploadBatch.objects.create(owner=get_user_model().objects.get(username="alice"), spec="timesheet-entries")
    cells = {"note": "=1+1", "hours": "7,5", "emoji": "🙂", "nested": {"a": [1, None, "b"]}}
    insert_values(
        UploadRow,
        ["batch", "row_number", "values", "errors", "data", "natural_key", "status", "match", "target_pk", "changes"],
        [(batch.pk, n, {**cells, "n": n}, {}, None, f"key {n}", "new", "new", "", {}) for n in range(2, 7)],
    )
    rows = list(batch.rows.order_by("row_number"))
    assert [(r.row_number, r.values, r.data, r.file_errors, r.previous, r.outcome) for r in rows] == [
        (n, {**cells, "n": n}, None, {}, None, "") for n in range(2, 7)
    ]
    for row in rows:
        row.outcome, row.previous = "created", {"hours": "1.50", "row": row.row_number}
    update_rows(UploadRow, rows, ["outcome", "previous"])
    assert list(batch.rows.order_by("row_number").values_list("outcome", "previous")) == [
        ("created", {"hours": "1.50", "row": n}) for n in range(2, 7)
    ]


#: Text that array syntax, SQL quoting or a careless split would change, and PostgreSQL's COPY (where ``\N`` means
#: NULL, ``\.`` ends the data and a tab ends a value).
AWKWARD = [
    *['say "hi"', "back\\slash \\", "{braces}", "a,b", "NULL", "", "  spaced  ", "ünïcode 🙂", "it's", "line\nbreak", '\\"'],
    *["\\N", "tab\there", "carriage\rreturn", "\\.", "end\\"],
]


def test_insert_records_stores_what_bulk_create_stores_and_returns_the_keys(values):
    pks = insert_records(Entry, values)
    assert len(set(pks)) == len(values) and None not in pks
    mine = sorted(Entry.objects.filter(pk__in=pks).values_list(*COLUMNS))
    Entry.objects.filter(pk__in=pks).delete()

    theirs = Entry.objects.bulk_create([Entry(**row) for row in values])
    assert mine == stored(theirs)


def test_insert_records_keys_are_in_the_order_of_the_dicts(values):
    rows = [{**row, "note": f"row {i}"} for i, row in enumerate(values)]
    pks = insert_records(Entry, rows)
    assert [Entry.objects.get(pk=pk).note for pk in pks] == [f"row {i}" for i in range(len(rows))]


def test_insert_records_builds_instances_when_the_model_needs_them(values, acme):
    # A listener to post_init sees every record, as it would with bulk_create([Entry(**values), …]).
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.note)

    post_init.connect(listener, sender=Entry)
    try:
        pks = insert_records(Entry, [{**row, "note": f"seen {i}"} for i, row in enumerate(values)])
    finally:
        post_init.disconnect(listener, sender=Entry)
    assert seen == [f"seen {i}" for i in range(len(values))]
    assert sorted(Entry.objects.filter(pk__in=pks).values_list("note", flat=True)) == sorted(seen)

    # auto_now_add and a primary key made in Python (UploadBatch): pre_save runs, the key is the one saved.
    owner = get_user_model().objects.get(username="alice")
    [pk] = insert_records(UploadBatch, [{"owner_id": owner.pk, "spec": "timesheet-entries"}])
    batch = UploadBatch.objects.get(pk=pk)
    assert batch.created_at is not None and batch.updated_at is not None and batch.status == UploadBatch.Status.DRAFT


def test_values_django_converts_are_stored_as_bulk_create_stores_them(values):
    # Dates, decimals and UUIDs pass as they are where the database takes them so; any other value of those
    # fields (a datetime, text, a float) still goes through the field, as bulk_create would send it.
    batch = UploadBatch.objects.create(owner=get_user_model().objects.get(username="alice"), spec="timesheet-entries")
    rows = [
        {**values[0], "date": datetime.datetime(2023, 5, 1, 23, 30), "hours": 7.25, "upload_batch_id": str(batch.pk)},
        {**values[1], "date": "2023-05-02", "hours": "6.50", "upload_batch_id": batch.pk},
        {**values[2], "date": datetime.date(2023, 5, 3), "hours": Decimal("0.5"), "upload_batch_id": None},
    ]
    pks = insert_records(Entry, rows)
    mine = sorted(Entry.objects.filter(pk__in=pks).values_list(*COLUMNS))
    Entry.objects.filter(pk__in=pks).delete()

    theirs = Entry.objects.bulk_create([Entry(**row) for row in rows])
    assert mine == stored(theirs)
    assert [row[COLUMNS.index("date")] for row in mine] == [datetime.date(2023, 5, day) for day in (1, 2, 3)]


def test_awkward_text_and_numbers_arrive_unchanged(values):
    rows = [
        {**values[0], "date": datetime.date(2023, 4, 1 + i), "note": text, "hours": Decimal("1E+1") if i % 2 else Decimal("-0.50")}
        for i, text in enumerate(AWKWARD)
    ]
    pks = insert_records(Entry, rows)
    assert [(Entry.objects.get(pk=pk).note, Entry.objects.get(pk=pk).hours) for pk in pks] == [(row["note"], row["hours"]) for row in rows]

    batch = UploadBatch.objects.create(owner=get_user_model().objects.get(username="alice"), spec="timesheet-entries")
    insert_values(
        UploadRow, ["batch", "row_number", "natural_key", "target_pk"], [(batch.pk, n, text, "") for n, text in enumerate(AWKWARD)]
    )
    assert list(batch.rows.order_by("row_number").values_list("natural_key", flat=True)) == AWKWARD
    ids = list(batch.rows.order_by("row_number").values_list("pk", flat=True))
    update_values(
        UploadRow, ["target_pk", "outcome"], [(pk, text[:64], "created") for pk, text in zip(ids, reversed(AWKWARD), strict=True)]
    )
    assert list(batch.rows.order_by("row_number").values_list("target_pk", flat=True)) == list(reversed(AWKWARD))


def test_awkward_text_with_nothing_to_escape_arrives_unchanged(values):
    # A column of texts without quotes or backslashes is written in one pass (PostgreSQL): braces, commas, NULL,
    # empty and spaced texts, line breaks and tabs must still arrive as they were.
    plain = [text for text in AWKWARD if '"' not in text and "\\" not in text]
    rows = [{**values[0], "date": datetime.date(2023, 6, 1 + i), "note": text, "activity": text[:20]} for i, text in enumerate(plain)]
    pks = insert_records(Entry, rows)
    assert [Entry.objects.values_list("note", "activity").get(pk=pk) for pk in pks] == [(text, text[:20]) for text in plain]


def test_json_of_every_kind_arrives_unchanged(demo):
    # JSON is written as text straight from json.dumps (PostgreSQL: cast to jsonb by the statement): awkward text inside it,
    # and JSON that is a bare string, number, boolean or list, as well as SQL NULL for None.
    batch = UploadBatch.objects.create(owner=get_user_model().objects.get(username="alice"), spec="timesheet-entries")
    kinds = [{"text": text, "list": [text, 1.5, None, True]} for text in AWKWARD] + ["just text", '{"not": "an object"}', 7, 2.5, False, []]
    insert_values(
        UploadRow, ["batch", "row_number", "values", "data", "target_pk"], [(batch.pk, n, {}, k, "") for n, k in enumerate(kinds)]
    )
    insert_values(UploadRow, ["batch", "row_number", "values", "data", "target_pk"], [(batch.pk, 99, {"n": 1}, None, "")])
    stored = list(batch.rows.order_by("row_number").values_list("data", flat=True))
    assert stored == [*kinds, None]
    assert batch.rows.filter(data__isnull=True).count() == 1  # None is SQL NULL, not JSON null
