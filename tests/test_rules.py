"""Every row and file rule of the timesheet spec: the message at the right row and column, and fixes in place."""

import datetime

import pytest
from django.urls import reverse

from bulkupload.models import UploadRow
from project.timesheets.models import Employee, Entry, Project
from project.timesheets.uploads import shown_date as shown

from .helpers import Wizard, xlsx_file


@pytest.fixture
def people(acme):
    emails = list(Employee.objects.filter(tenant=acme).order_by("pk").values_list("email", flat=True)[:3])
    active = list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True)[:2])
    closed = Project.objects.get(tenant=acme, active=False).code
    return {"emails": emails, "codes": active, "closed": closed}


def upload(client, rows):
    wizard = Wizard(client).start()
    response = wizard.upload(xlsx_file(rows))
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return wizard


def errors_by_row(wizard) -> dict[int, dict[str, list[str]]]:
    return {row.row_number: row.all_errors() for row in UploadRow.objects.filter(batch_id=wizard.upload_id)}


def row(people, day, **overrides):
    values = {
        "email": people["emails"][0],
        "date": day,
        "code": people["codes"][0],
        "hours": 8,
        "billable": "yes",
        "activity": "Development",
        "note": "",
    }
    values.update(overrides)
    return [values[k] for k in ("email", "date", "code", "hours", "billable", "activity", "note")]


CELL_RULES = [
    ({"email": "nobody@acme.example"}, "employee_email", "Unknown employee “nobody@acme.example”."),
    ({"code": "NOPE-1"}, "project_code", "Unknown project “NOPE-1”."),
    ({"date": "2026-02-30"}, "date", "“2026-02-30” is not a date; use YYYY-MM-DD."),
    ({"hours": "abc"}, "hours", "“abc” is not a number of hours (like 7.5 or 7:30)."),
    ({"hours": 0}, "hours", "Hours must be more than 0."),
    ({"hours": 25}, "hours", "Hours must be at most 24."),
    ({"hours": 7.3}, "hours", "Hours must be in quarter hours (steps of 0.25)."),
    ({"billable": "maybe"}, "billable", "“maybe” is not yes or no (use yes/no, true/false, y/n, 1/0, or x for yes)."),
    ({"activity": "Coding"}, "activity", "“Coding” is not one of: Development, Design, Meeting, Support, Admin."),
    ({"activity": ""}, "activity", "This field is required."),
    ({"note": "x" * 201}, "note", "Ensure this value has at most 200 characters (it has 201)."),
]


@pytest.mark.parametrize(("override", "column", "message"), CELL_RULES, ids=[r[1] + ":" + r[2][:20] for r in CELL_RULES])
def test_row_rule_message_is_at_its_row_and_column(alice, people, workday, override, column, message):
    wizard = upload(alice, [row(people, workday), row(people, workday, **{"code": people["codes"][1], **override})])
    errors = errors_by_row(wizard)
    assert errors[2] == {}
    assert errors[3] == {column: [message]}
    page = wizard.preview(status="invalid").content.decode()
    assert 'id="row-3"' in page and 'id="row-2"' not in page
    assert message in page


def test_closed_project_is_refused(alice, people, workday):
    wizard = upload(alice, [row(people, workday, code=people["closed"])])
    assert errors_by_row(wizard)[2] == {"project_code": [f"Project “{people['closed']}” is closed."]}


def test_future_date_is_refused(alice, people):
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    wizard = upload(alice, [row(people, tomorrow)])
    assert errors_by_row(wizard)[2] == {"date": [f"{shown(tomorrow)} is in the future."]}


def test_dates_on_or_before_the_lock_date_are_refused(alice, acme, people, workday):
    acme.lock_date = workday
    acme.save()
    wizard = upload(alice, [row(people, workday), row(people, workday + datetime.timedelta(days=1))])
    errors = errors_by_row(wizard)
    assert errors[2] == {"date": [f"Entries up to {shown(workday)} are locked."]}
    assert errors[3] == {}


def test_an_email_of_another_tenant_is_simply_unknown(alice, globex, people, workday):
    globex_email = Employee.objects.filter(tenant=globex).first().email
    wizard = upload(alice, [row(people, workday, email=globex_email)])
    assert errors_by_row(wizard)[2] == {"employee_email": [f"Unknown employee “{globex_email}”."]}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("yes", True),
        ("No", False),
        ("TRUE", True),
        ("false", False),
        ("y", True),
        ("n", False),
        ("1", True),
        ("0", False),
        ("x", True),
        ("", False),
        (True, True),
        (False, False),
    ],
)
def test_billable_accepts_the_usual_spellings(alice, acme, people, workday, cell, expected):
    wizard = upload(alice, [row(people, workday, billable=cell)])
    wizard.to_confirm()
    wizard.confirm()
    assert Entry.objects.get(tenant=acme).billable is expected


def test_activity_is_matched_in_any_case_and_saved_canonically(alice, acme, people, workday):
    wizard = upload(alice, [row(people, workday, activity="mEeTiNg")])
    wizard.to_confirm()
    wizard.confirm()
    assert Entry.objects.get(tenant=acme).activity == "Meeting"


def test_same_key_twice_makes_both_rows_invalid(alice, people, workday):
    wizard = upload(alice, [row(people, workday, hours=2), row(people, workday, hours=3), row(people, workday, code=people["codes"][1])])
    errors = errors_by_row(wizard)
    assert errors[2] == {"__all__": ["Duplicate of row 3 (same key)."]}
    assert errors[3] == {"__all__": ["Duplicate of row 2 (same key)."]}
    assert errors[4] == {}
    assert wizard.batch().invalid_count == 2


def test_daily_hours_over_24_in_the_file_are_refused(alice, people, workday):
    wizard = upload(alice, [row(people, workday, hours=16), row(people, workday, code=people["codes"][1], hours=9)])
    errors = errors_by_row(wizard)
    message = f"25 hours on {shown(workday)} for this employee; at most 24 are allowed."
    assert errors[2] == {"hours": [message]}
    assert errors[3] == {"hours": [message]}


def test_daily_hours_count_existing_entries_the_file_does_not_overwrite(alice, acme, people, workday):
    employee = Employee.objects.get(tenant=acme, email=people["emails"][0])
    other = Project.objects.get(tenant=acme, code=people["codes"][1])
    Entry.objects.create(tenant=acme, employee=employee, project=other, date=workday, hours=20, activity="Design")
    refused = upload(alice, [row(people, workday, hours=6)])
    assert errors_by_row(refused)[2] == {"hours": [f"26 hours on {shown(workday)} for this employee; at most 24 are allowed."]}
    # The same day with the existing entry overwritten down to 10 hours is fine.
    accepted = upload(alice, [row(people, workday, hours=6), row(people, workday, code=people["codes"][1], hours=10)])
    assert errors_by_row(accepted) == {2: {}, 3: {}}


def fix_payload(wizard, page_html_rows, edits):
    """The preview's fix formset as the browser posts it: every invalid row on the page with its cells."""
    payload = {
        "fix-TOTAL_FORMS": str(len(page_html_rows)),
        "fix-INITIAL_FORMS": str(len(page_html_rows)),
        "fix-MIN_NUM_FORMS": "0",
        "fix-MAX_NUM_FORMS": "1000",
    }
    for index, upload_row in enumerate(page_html_rows):
        payload[f"fix-{index}-row"] = str(upload_row.pk)
        for key, value in {**upload_row.values, **edits.get(upload_row.row_number, {})}.items():
            payload[f"fix-{index}-{key}"] = value
    return payload


def test_fixing_a_cell_in_the_preview_makes_the_row_valid(alice, acme, people, workday):
    wizard = upload(alice, [row(people, workday), row(people, workday, code=people["codes"][1], hours=30)])
    page = wizard.preview()
    formset = page.context["formset"]
    assert len(formset.forms) == 1 and formset.forms[0].initial["hours"] == "30"

    invalid = list(UploadRow.objects.filter(batch_id=wizard.upload_id, status="invalid"))
    fix_url = reverse("bulkupload:fix", kwargs={"spec": wizard.spec, "upload_id": wizard.upload_id})
    response = alice.post(fix_url, fix_payload(wizard, invalid, {3: {"hours": "6.5"}}))
    assert response.status_code == 302 and response["Location"].endswith("/preview/")

    batch = wizard.batch()
    assert (batch.new_count, batch.invalid_count) == (2, 0)
    wizard.to_confirm()
    wizard.confirm()
    assert sorted(str(h) for h in Entry.objects.filter(tenant=acme).values_list("hours", flat=True)) == ["6.50", "8.00"]


def test_a_fix_is_revalidated_with_the_file_rules(alice, people, workday):
    # Row 3 is invalid; "fixing" it into a copy of row 2 must surface the duplicate on both rows.
    wizard = upload(alice, [row(people, workday), row(people, workday, code=people["codes"][1], hours=-1)])
    invalid = list(UploadRow.objects.filter(batch_id=wizard.upload_id, status="invalid"))
    fix_url = reverse("bulkupload:fix", kwargs={"spec": wizard.spec, "upload_id": wizard.upload_id})
    alice.post(fix_url, fix_payload(wizard, invalid, {3: {"hours": "8", "project_code": people["codes"][0]}}))
    errors = errors_by_row(wizard)
    assert errors[2] == {"__all__": ["Duplicate of row 3 (same key)."]}
    assert errors[3] == {"__all__": ["Duplicate of row 2 (same key)."]}
    assert wizard.batch().invalid_count == 2


@pytest.mark.parametrize(("cell", "expected"), [("7:30", "7.50"), ("07:45:00", "7.75"), (datetime.time(8, 15), "8.25"), ("6,25", "6.25")])
def test_hours_typed_as_a_time_or_with_a_decimal_comma_are_understood(alice, acme, people, workday, cell, expected):
    wizard = upload(alice, [row(people, workday, hours=cell)])
    wizard.to_confirm()
    wizard.confirm()
    assert str(Entry.objects.get(tenant=acme).hours) == expected


def test_hours_as_a_time_that_is_not_a_quarter_hour_are_refused(alice, people, workday):
    wizard = upload(alice, [row(people, workday, hours="7:10")])
    assert errors_by_row(wizard)[2] == {"hours": ["Hours must be in quarter hours (steps of 0.25)."]}
