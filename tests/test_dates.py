"""Dates: one format per column (day-first or month-first, asked once when the file cannot tell), Excel serial
numbers, and dates shown in the active locale's format (en-GB, en-US, de) and accepted back from the edit boxes."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client

from bulkupload import fields, fixing, services
from bulkupload.models import UploadRow

from .helpers import Wizard, csv_file, xlsx_file

pytestmark = pytest.mark.django_db

# Recent past days of November 2026 (the tests' "today" is after them), written both ways.
NOV = [datetime.date(2026, 11, day) for day in (3, 10, 13, 20)]


def past(day: datetime.date) -> bool:
    return day < datetime.date.today()


def rows(people, texts, *, hours=1):
    email, code = people["emails"][0], people["codes"][0]
    return [[email, text, code, hours, "yes", "Design", ""] for text in texts]


def dates_of(wizard) -> list[datetime.date | None]:
    return [datetime.date.fromisoformat(row.data["date"]) if row.data else None for row in wizard.batch().rows.order_by("row_number")]


def client_in(username: str, language: str) -> Client:
    from django.contrib.auth import get_user_model

    client = Client(headers={"accept-language": language})
    client.force_login(get_user_model().objects.get(username=username))
    return client


def test_how_a_text_date_can_be_read():
    assert fields.date_orders_of("13/11/2026") == {"dmy"}
    assert fields.date_orders_of("11/13/2026") == {"mdy"}
    assert fields.date_orders_of("03/11/2026") == {"dmy", "mdy"}
    assert fields.date_orders_of("2026-11-03") == set()
    assert fields.read_numeric_date("03/11/2026", "mdy") == datetime.date(2026, 3, 11)
    assert fields.read_numeric_date("03/11/2026", "dmy") == datetime.date(2026, 11, 3)


@pytest.mark.skipif(not all(map(past, NOV)), reason="needs the test dates to be in the past")
def test_a_column_with_a_month_first_only_date_is_read_month_first(demo, acme_people):
    alice = client_in("alice", "en-GB")  # the locale would say day first: the file says otherwise
    wizard = Wizard(alice).start()
    response = wizard.upload(csv_file(rows(acme_people, ["11/13/2026", "11/03/2026", "11/10/2026"])), name="us.csv")
    assert response["Location"].endswith("/preview/")  # nothing to ask
    assert dates_of(wizard) == [datetime.date(2026, 11, 13), datetime.date(2026, 11, 3), datetime.date(2026, 11, 10)]
    assert wizard.batch().invalid_count == 0


@pytest.mark.skipif(not all(map(past, NOV)), reason="needs the test dates to be in the past")
def test_a_column_with_a_day_first_only_date_is_read_day_first(demo, acme_people):
    alice = client_in("alice", "en-US")
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, ["13/11/2026", "03/11/2026", "10-11-2026"])), name="gb.csv")
    assert dates_of(wizard) == [datetime.date(2026, 11, 13), datetime.date(2026, 11, 3), datetime.date(2026, 11, 10)]


@pytest.mark.skipif(not all(map(past, NOV)), reason="needs the test dates to be in the past")
@pytest.mark.parametrize(
    ("language", "default", "expected"), [("en-US", "mdy", (3, 10)), ("en-GB", "dmy", (10, 3)), ("de", "dmy", (10, 3))]
)
def test_an_ambiguous_column_is_asked_once_defaulting_from_the_locale(demo, acme_people, language, default, expected):
    alice = client_in("alice", language)
    wizard = Wizard(alice).start()
    response = wizard.upload(csv_file(rows(acme_people, ["03/10/2026", "10/03/2026", "03/10/2026"])), name="either.csv")
    assert response["Location"].endswith("/values/")
    page = alice.get(wizard.url("values"))
    form = page.context["form"]
    assert [q.column.key for q in form.questions] == ["date"]
    assert form["date_date"].value() == default
    # Two examples, each read both ways.
    assert [(t, d, m) for t, d, m in form.questions[0].examples] == [
        ("03/10/2026", datetime.date(2026, 10, 3), datetime.date(2026, 3, 10)),
        ("10/03/2026", datetime.date(2026, 3, 10), datetime.date(2026, 10, 3)),
    ]
    # Before the answer, the column is read by the locale's default already.
    first = datetime.date(2026, *expected)
    assert dates_of(wizard)[0] == first
    # Answered month first: every row of the column follows.
    response = wizard.post_step("values", {"values-date_date": "mdy"})
    assert response["Location"].endswith("/preview/")
    assert dates_of(wizard) == [datetime.date(2026, 3, 10), datetime.date(2026, 10, 3), datetime.date(2026, 3, 10)]
    # Asked once: the answer is kept, the question shows it, and a fix of another cell keeps the order.
    assert alice.get(wizard.url("values")).context["form"]["date_date"].value() == "mdy"
    bad = wizard.batch().rows.first()
    services.save_fixes(batch=wizard.batch(), edits={bad.pk: {"note": "checked"}})
    assert dates_of(wizard)[0] == datetime.date(2026, 3, 10)


def test_excel_serial_numbers_in_a_date_column_are_dates(demo, acme_people, workday):
    alice = client_in("alice", "en-GB")
    serial = (workday - fields.EXCEL_EPOCH).days
    wizard = Wizard(alice).start()
    # A date cell without a date format: openpyxl writes the plain number.
    wizard.upload(xlsx_file(rows(acme_people, [serial])))
    assert dates_of(wizard) == [workday]
    assert fields.excel_serial_date("46000") == datetime.date(2025, 12, 9)
    assert fields.excel_serial_date("2026") is None  # a year, not a date


@pytest.mark.parametrize(("language", "shown"), [("en-GB", "%d/%m/%Y"), ("en-US", "%m/%d/%Y"), ("de", "%d.%m.%Y")])
def test_dates_are_shown_in_the_locale_format_and_accepted_back(demo, acme_people, workday, language, shown):
    client = client_in("alice", language)
    wizard = Wizard(client).start()
    # Hours 30 makes the row invalid: its cells get edit boxes.
    wizard.upload(xlsx_file(rows(acme_people, [workday], hours=30)))
    page = client.get(wizard.url("preview"))
    text = page.content.decode()
    local = workday.strftime(shown)
    assert f'value="{local}"' in text  # the edit box
    bad = wizard.batch().rows.get()
    management = {"fix-TOTAL_FORMS": "1", "fix-INITIAL_FORMS": "1", "fix-0-row": str(bad.pk)}
    cells = {f"fix-0-{k}": v for k, v in bad.values.items()} | {"fix-0-date": local, "fix-0-hours": "2"}
    fix_url = page.context["fix_url"]
    client.post(fix_url, {**management, **cells})
    row = UploadRow.objects.get(pk=bad.pk)
    assert row.status != "invalid", row.errors
    assert row.data["date"] == workday.isoformat()
    # Another day typed in the locale's format is read that way.
    other = workday - datetime.timedelta(days=1)
    client.post(fix_url, {**management, **cells, "fix-0-date": other.strftime(shown), "fix-0-hours": "3"})
    assert UploadRow.objects.get(pk=bad.pk).data["date"] == other.isoformat()
    # And the preview shows the valid row's date in the same format.
    shown_now = client.get(wizard.url("preview")).content.decode()
    assert other.strftime(shown) in shown_now


@pytest.mark.skipif(not all(map(past, NOV)), reason="needs the test dates to be in the past")
def test_a_file_read_by_a_task_still_asks_before_the_preview(demo, acme_people, settings):
    settings.BULKUPLOAD = {**getattr(settings, "BULKUPLOAD", {}), "TASK_THRESHOLD_ROWS": 1}
    alice = client_in("alice", "en-GB")
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, ["03/10/2026", "10/03/2026"])), name="either.csv")
    # The progress page sends the user to the preview; the unanswered question comes first.
    response = alice.get(wizard.url("preview"))
    assert response.status_code == 302 and response["Location"].endswith("/values/")
    wizard.post_step("values", {"values-date_date": "dmy"})
    assert alice.get(wizard.url("preview")).status_code == 200
    assert dates_of(wizard) == [datetime.date(2026, 10, 3), datetime.date(2026, 3, 10)]


@pytest.mark.skipif(not all(map(past, NOV)), reason="needs the test dates to be in the past")
def test_a_file_mixing_both_ways_is_asked_with_one_example_of_each(demo, acme_people):
    alice = client_in("alice", "en-GB")
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, ["13/11/2026", "11/20/2026"])), name="mixed.csv")
    page = alice.get(wizard.url("values"))
    assert [text for text, _d, _m in page.context["form"].questions[0].examples] == ["11/20/2026", "13/11/2026"]
    assert "“13/11/2026” can only be 13 November 2026" in page.content.decode()
    # Read day first (the en-GB default) the month-first text is invalid, named at its cell.
    assert wizard.batch().invalid_count == 1


@pytest.mark.skipif(not all(map(past, NOV)), reason="needs the test dates to be in the past")
def test_a_bulk_replace_keeps_the_answered_date_order(demo, acme_people):
    # A day-first page language, a column answered month first: the rows a find-and-replace changes are checked again
    # with the user's answer, not the locale's default.
    alice = client_in("alice", "en-GB")
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, ["03/10/2026", "10/03/2026", "03/10/2026"])), name="either.csv")
    wizard.post_step("values", {"values-date_date": "mdy"})
    answered = [datetime.date(2026, 3, 10), datetime.date(2026, 10, 3), datetime.date(2026, 3, 10)]
    assert dates_of(wizard) == answered

    assert fixing.replace_values(wizard.batch(), column="activity", find="Design", replace="Development") == 3
    assert dates_of(wizard) == answered
    assert set(wizard.batch().rows.values_list("values__activity", flat=True)) == {"Development"}
