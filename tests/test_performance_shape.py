"""The fast paths give the same answers as the plain ones: one reused row form, JSON encoding, set-based updates, calamine."""

import datetime
import decimal
import io
import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from openpyxl import Workbook

from bulkupload.bulk import update_rows
from bulkupload.models import UploadBatch, UploadRow
from bulkupload.reading import Limits, open_table
from bulkupload.reading.extent import inspect_workbook
from bulkupload.spec import get_spec
from bulkupload.validation import RowValidator, SharedValues, decode_values, encode_values, key_text
from project.timesheets.models import Entry, Project
from project.timesheets.uploads import shown_date as shown

from .helpers import SPEC


def timesheet_rows(acme, day):
    """Every rule of the timesheet row form, broken once, between valid rows (so state left over from a row would show)."""
    emails = list(acme.employees.order_by("pk").values_list("email", flat=True)[:2])
    code = acme.projects.filter(active=True).order_by("code").values_list("code", flat=True).first()
    closed = acme.projects.get(active=False).code
    iso = day.isoformat()
    good = {
        "employee_email": emails[0],
        "date": iso,
        "project_code": code,
        "hours": "7.5",
        "billable": "yes",
        "activity": "Development",
        "note": "",
    }
    broken = [
        {"employee_email": "nobody@acme.example"},
        {"employee_email": ""},
        {"employee_email": emails[1].upper()},
        {"project_code": "NOPE"},
        {"project_code": closed},
        {"project_code": code.lower()},
        {"date": "2026-02-30"},
        {"date": "01.02.2024"},
        {"date": (datetime.date.today() + datetime.timedelta(days=3)).isoformat()},
        {"date": f"{iso} 00:00:00"},
        {"date": ""},
        {"hours": "abc"},
        {"hours": "0"},
        {"hours": "25"},
        {"hours": "7.3"},
        {"hours": "7,75"},
        {"hours": ""},
        {"billable": "maybe"},
        {"billable": "TRUE"},
        {"billable": ""},
        {"activity": "coding"},
        {"activity": "meeting"},
        {"activity": ""},
        {"note": "x" * 201},
        {"note": "  spaced  "},
        {"employee_email": "nobody@acme.example", "hours": "99", "activity": "?"},
    ]
    rows = []
    for change in broken:
        rows.append(good)
        rows.append({**good, **change})
    return rows


def fresh_form_result(spec, context, scope, raw):
    """What one new Django form per row makes of ``raw``: the behaviour the reused form must keep."""
    form = spec.get_form(context, data=raw)
    if form.is_valid():
        return spec.to_model_values(form.cleaned_data, scope), {}
    return None, {name: [str(m) for m in messages] for name, messages in form.errors.items()}


def test_reused_row_form_cleans_every_row_exactly_like_a_fresh_form(acme, workday):
    spec = get_spec(SPEC)
    validator = RowValidator(spec, acme)
    rows = timesheet_rows(acme, workday)
    expected = [fresh_form_result(spec, validator.context, acme, raw) for raw in rows]
    actual = [validator.clean(raw) for raw in rows]
    assert actual == expected
    assert sum(1 for values, _errors in actual if values is None) >= 15


def test_a_locked_day_is_refused_by_the_reused_form_as_by_a_fresh_one(acme, workday):
    acme.lock_date = workday
    acme.save()
    spec = get_spec(SPEC)
    validator = RowValidator(spec, acme)
    rows = timesheet_rows(acme, workday)
    assert [validator.clean(raw) for raw in rows] == [fresh_form_result(spec, validator.context, acme, raw) for raw in rows]
    assert validator.clean(rows[0])[1] == {"date": [f"Entries up to {shown(workday)} are locked."]}


@pytest.mark.parametrize(
    "value",
    [
        "text",
        "",
        0,
        42,
        1.5,
        True,
        None,
        datetime.date(2026, 1, 5),
        datetime.datetime(2026, 1, 5, 8, 30, 15, 123456, tzinfo=datetime.UTC),
        datetime.time(8, 30),
        datetime.timedelta(hours=7, minutes=30),
        decimal.Decimal("7.50"),
        decimal.Decimal("0.25"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        [1, "a"],
    ],
)
def test_stored_values_are_encoded_exactly_as_djangos_json_encoder_does(value):
    assert encode_values({"v": value}) == json.loads(json.dumps({"v": value}, cls=DjangoJSONEncoder))
    key = (value, "ü" * 250)  # the natural key's text too, cut at 255 characters as the column is
    assert key_text(key) == json.dumps(list(key), cls=DjangoJSONEncoder)[:255]


def test_stored_values_decode_as_each_fields_to_python_does():
    # The decoder skips to_python where it hands the value back and remembers a date's or a decimal's text:
    # every kind of stored value still comes back as the field would make it, and bad text is still refused.
    stored = [
        {"date": "2026-01-05", "hours": "7.50", "note": "x", "billable": True, "employee_id": 3, "upload_batch": None},
        {"date": "2026-01-05", "hours": "7.5", "note": "", "billable": "f", "employee_id": "4", "activity": 12},
        {"date": datetime.date(2026, 1, 6), "hours": 0.25, "note": None, "billable": False, "project": 2},
    ]
    for _ in range(2):  # the second time from what was remembered
        for data in stored:
            expected = {name: Entry._meta.get_field(name).to_python(value) for name, value in data.items()}
            decoded = decode_values(Entry, data)
            assert decoded == expected
            assert [type(v) for v in decoded.values()] == [type(v) for v in expected.values()]
    assert str(decode_values(Entry, stored[1])["hours"]) == "7.5"  # 7.5 and 7.50 are equal Decimals, not the same text
    with pytest.raises(ValidationError):
        decode_values(Entry, {"date": "2026-02-30"})


def test_set_based_update_writes_each_rows_own_values(acme, workday, alice):
    project = Project.objects.filter(tenant=acme).order_by("pk").first()
    employees = list(acme.employees.order_by("pk")[:3])
    batch = UploadBatch.objects.create(owner_id=alice.session["_auth_user_id"], spec=SPEC)
    entries = Entry.objects.bulk_create(
        [Entry(tenant=acme, employee=e, date=workday, project=project, hours=1, activity="Admin") for e in employees]
    )
    entries = list(Entry.objects.filter(pk__in=[e.pk for e in entries]).order_by("pk"))
    for n, entry in enumerate(entries):
        entry.hours = decimal.Decimal("1.25") * (n + 1)
        entry.note = f"note “{n}” '; --"
        entry.billable = n % 2 == 0
        entry.upload_batch_id = batch.pk if n else None
    update_rows(Entry, entries, ["hours", "note", "billable", "upload_batch"])
    stored = list(
        Entry.objects.filter(pk__in=[e.pk for e in entries]).order_by("pk").values_list("hours", "note", "billable", "upload_batch")
    )
    assert stored == [
        (decimal.Decimal("1.25"), "note “0” '; --", True, None),
        (decimal.Decimal("2.50"), "note “1” '; --", False, batch.pk),
        (decimal.Decimal("3.75"), "note “2” '; --", True, batch.pk),
    ]


def test_set_based_update_writes_json_and_clears_it(alice, demo):
    batch = UploadBatch.objects.create(owner_id=alice.session["_auth_user_id"], spec=SPEC)
    rows = UploadRow.objects.bulk_create([UploadRow(batch=batch, row_number=n, values={"a": str(n)}, previous={"x": 1}) for n in (2, 3)])
    rows = list(UploadRow.objects.filter(batch=batch).order_by("row_number"))
    rows[0].errors, rows[0].previous = {"hours": ["Too “many”."]}, None
    rows[1].errors, rows[1].previous = {}, {"hours": "7.50", "nested": {"k": [1, 2]}}
    update_rows(UploadRow, rows, ["errors", "previous"])
    stored = list(UploadRow.objects.filter(batch=batch).order_by("row_number").values_list("errors", "previous", "values"))
    assert stored == [({"hours": ["Too “many”."]}, None, {"a": "2"}), ({}, {"hours": "7.50", "nested": {"k": [1, 2]}}, {"a": "3"})]


def workbook(rows, *, with_formula_sheet: bool) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Entries")
    for row in rows:
        sheet.append(row)
    if with_formula_sheet:
        book.create_sheet("Notes").append(["total", "=1+1"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_plain_workbook_reads_the_same_through_calamine_as_through_openpyxl(db):
    day = datetime.datetime(2026, 1, 5)
    rows = [["Title over the table"], [], ["Employee email", "Date", "Project code", "Hours", "Billable", "Activity", "Note"]]
    for i in range(12_000):  # the sheet's XML spans several 1 MB blocks of the plainness scan
        rows.append(
            [
                f"e{i % 50}@acme.example",
                day + datetime.timedelta(days=i % 90),
                f"P-{i % 19:03d}",
                0.25 * (1 + i % 32),
                i % 2 == 0,
                "Admin",
                None,
            ]
        )
        if i % 1000 == 999:
            rows.append([])  # a blank row now and then
    rows.append(["", datetime.date(2026, 2, 1), "", 7, "  spaced  ", "x", 1.5e-7])
    plain, with_formula = workbook(rows, with_formula_sheet=False), workbook(rows, with_formula_sheet=True)
    # The extent scan decides in its one pass over each part whether python-calamine may read the workbook.
    assert [
        inspect_workbook(io.BytesIO(content), name="x.xlsx", limits=Limits(), plain=True).plain for content in (plain, with_formula)
    ] == [
        True,
        False,
    ]

    fast = open_table(io.BytesIO(plain), name="plain.xlsx")
    slow = open_table(io.BytesIO(with_formula), name="formula.xlsx")
    assert (fast.header, fast.header_row, fast.sheet) == (slow.header, slow.header_row, slow.sheet) == (rows[2], 3, "Entries")
    assert [(n, list(cells)) for n, cells in fast.rows] == [(n, list(cells)) for n, cells in slow.rows]


def test_rows_handed_to_file_rules_share_equal_values_but_keep_each_ones_spelling():
    shared = SharedValues()
    first = shared({"hours": decimal.Decimal("7.50"), "date": datetime.date(2026, 1, 5), "email": "ada@acme.example", "n": 1})
    second = shared({"hours": decimal.Decimal("7.5"), "date": datetime.date(2026, 1, 5), "email": "ada@acme.example", "n": True})
    assert str(first["hours"]) == "7.50" and str(second["hours"]) == "7.5"
    assert first["date"] is second["date"] and first["email"] is second["email"]
    assert second["n"] is True and first["n"] == 1


def test_shared_values_keep_at_most_the_setting_and_still_share_what_they_kept(settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "SHARED_VALUES_MAX": 4}
    shared = SharedValues()
    first = shared({"email": "ada@acme.example", "note": "n1"})  # two keys and two values: full
    later = [shared({"email": "".join(["ada@", "acme.example"]), "note": "".join(["n", str(i)])}) for i in range(2, 50)]
    assert all(row["email"] is first["email"] for row in later)  # kept before the limit: still shared
    assert len(shared._seen) == 4 and all(row["note"] == f"n{i}" for i, row in enumerate(later, start=2))
