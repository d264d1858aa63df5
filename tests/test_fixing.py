"""Fixing in the preview, over real requests: no edit lost, only changed rows written, stale rows named, bulk fixes.

The forms are posted as a browser would post them: every field the rendered page holds,
with the user's changes on top (see :func:`page_fields`).
"""

from __future__ import annotations

import datetime
import io
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from bulkupload import fixing, services
from bulkupload.models import UploadRow
from bulkupload.spec import get_spec
from project.timesheets.models import Entry

from .helpers import SPEC, Wizard, csv_file, xlsx_file

Status = UploadRow.Status


class _Fields(HTMLParser):
    """The successful controls of the form ``form_id``: inputs (text, hidden, checked radios) and selects' first options."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif self.inside and tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("text", "hidden", "number") or (kind == "radio" and "checked" in a):
                self.fields[a["name"]] = a.get("value", "")
        elif self.inside and tag == "select":
            self.select = a.get("name")
        elif self.inside and tag == "option" and self.select and self.select not in self.fields:
            self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def page_fields(response, form_id: str = "fix-form") -> dict[str, str]:
    parser = _Fields(form_id)
    parser.feed(response.content.decode())
    return parser.fields


def field_for(fields: dict[str, str], row: UploadRow, key: str) -> str:
    """The name of the edit box of ``key`` in ``row`` on the page."""
    index = next(name.split("-")[1] for name, value in fields.items() if re.fullmatch(r"fix-\d+-row", name) and value == str(row.pk))
    return f"fix-{index}-{key}"


def fix_url(wizard: Wizard) -> str:
    return reverse("bulkupload:fix", kwargs={"spec": SPEC, "upload_id": wizard.upload_id})


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def six_invalid(alice, acme_people, workday):
    """An upload of six rows, each invalid (hours over 24), in Alice's wizard at the preview."""
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [[e[i % 3], workday - datetime.timedelta(days=i), p[0], 30, "no", "Meeting", ""] for i in range(6)]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    assert wizard.batch().invalid_count == 6
    return wizard


def row(wizard: Wizard, number: int) -> UploadRow:
    return wizard.batch().rows.get(row_number=number)


def test_two_edits_write_two_rows_not_every_invalid_row_of_the_page(alice, six_invalid):
    wizard = six_invalid
    fields = page_fields(wizard.preview())
    before = dict(wizard.batch().rows.values_list("row_number", "version"))
    fields[field_for(fields, row(wizard, 2), "hours")] = "3"
    fields[field_for(fields, row(wizard, 5), "hours")] = "4"
    response = alice.post(fix_url(wizard), fields, follow=True)
    assert "Saved 2 row(s). 4 invalid row(s) left." in messages_of(response)
    after = dict(wizard.batch().rows.values_list("row_number", "version"))
    assert [n for n in after if after[n] != before[n]] == [2, 5]
    assert wizard.batch().invalid_count == 4


def test_saving_an_untouched_page_writes_nothing(alice, six_invalid):
    wizard = six_invalid
    before = dict(wizard.batch().rows.values_list("row_number", "version"))
    response = alice.post(fix_url(wizard), page_fields(wizard.preview()), follow=True)
    assert "Nothing was changed." in messages_of(response)
    assert dict(wizard.batch().rows.values_list("row_number", "version")) == before


@pytest.mark.parametrize(("then", "step"), [("confirm", "confirm"), ("upload", "upload")])
def test_every_button_saves_the_pending_edit_first(alice, six_invalid, then, step):
    wizard = six_invalid
    fields = page_fields(wizard.preview())
    fields[field_for(fields, row(wizard, 3), "hours")] = "5"
    response = alice.post(fix_url(wizard), {**fields, "then": then})
    assert response.status_code == 302 and response["Location"] == wizard.url(step)
    assert row(wizard, 3).values["hours"] == "5" and row(wizard, 3).status == Status.NEW
    assert wizard.batch().invalid_count == 5
    if then == "confirm":
        page = alice.get(response["Location"])
        assert page.status_code == 200 and "confirm" in page.templates[0].name


def test_continue_after_an_edit_reaches_an_import_that_has_it(alice, six_invalid):
    wizard = six_invalid
    fields = page_fields(wizard.preview())
    fields[field_for(fields, row(wizard, 2), "hours")] = "6"
    alice.post(fix_url(wizard), {**fields, "then": "confirm"})
    response = wizard.confirm(skip_invalid=True)
    assert response.status_code == 302
    assert list(Entry.objects.filter(upload_batch_id=wizard.upload_id).values_list("hours", flat=True)) == [6]


def test_a_stale_tab_never_overwrites_a_newer_edit_of_the_same_cell_and_is_shown_the_row(alice, six_invalid):
    wizard = six_invalid
    tab_a, tab_b = page_fields(wizard.preview()), page_fields(wizard.preview())
    target = row(wizard, 4)
    tab_a[field_for(tab_a, target, "hours")] = "7"
    alice.post(fix_url(wizard), tab_a)
    tab_b[field_for(tab_b, target, "hours")] = "8"
    response = alice.post(fix_url(wizard), tab_b, follow=True)
    message = messages_of(response)[-1]
    assert "Row 4 was changed elsewhere (another tab or person) since you loaded it" in message
    assert "Row 4 now reads:" in message and "Hours: 7" in message
    assert row(wizard, 4).values["hours"] == "7"


def test_two_tabs_editing_different_cells_of_one_row_both_keep_their_edits(alice, six_invalid, acme_people):
    wizard = six_invalid
    tab_a, tab_b = page_fields(wizard.preview()), page_fields(wizard.preview())
    target = row(wizard, 4)
    tab_a[field_for(tab_a, target, "hours")] = "7"
    alice.post(fix_url(wizard), tab_a)
    tab_b[field_for(tab_b, target, "note")] = "from tab B"
    response = alice.post(fix_url(wizard), tab_b, follow=True)
    assert "Saved 1 row(s). 5 invalid row(s) left." in messages_of(response)
    assert {k: row(wizard, 4).values[k] for k in ("hours", "note")} == {"hours": "7", "note": "from tab B"}
    assert row(wizard, 4).status == Status.NEW


def test_the_cell_endpoint_saves_one_cell_and_answers_the_row_and_refuses_a_stale_one(alice, bob, six_invalid):
    wizard = six_invalid
    url = reverse("bulkupload:fix_cell", kwargs={"spec": SPEC, "upload_id": wizard.upload_id})
    target = row(wizard, 2)
    posted = {"row": target.pk, "version": target.version, "key": "hours", "value": "2", "seen": "30"}
    assert bob.post(url, posted).status_code == 404
    answer = alice.post(url, posted).json()
    assert answer["state"] == "saved" and answer["row"]["status"] == "new" and answer["row"]["version"] == target.version + 1
    assert answer["counts"]["invalid"] == 5 and answer["row"]["errors"]["hours"] == []
    stale = alice.post(url, {**posted, "value": "9"})
    assert stale.status_code == 409
    assert stale.json()["state"] == "stale" and stale.json()["row"]["values"]["hours"] == "2"
    assert row(wizard, 2).values["hours"] == "2"


def test_exclude_and_include_a_row_over_requests(alice, six_invalid):
    wizard = six_invalid
    target = row(wizard, 3)
    response = alice.post(fix_url(wizard), {**page_fields(wizard.preview()), "exclude": target.pk}, follow=True)
    assert "Row 3 is excluded: it will not be imported." in messages_of(response)
    batch = wizard.batch()
    assert (row(wizard, 3).status, batch.invalid_count, batch.total_rows) == (Status.EXCLUDED, 5, 6)
    assert "Include row 3 again" in wizard.preview(status="excluded").content.decode()
    alice.post(fix_url(wizard), {**page_fields(wizard.preview()), "include": target.pk})
    assert (row(wizard, 3).status, wizard.batch().invalid_count) == (Status.INVALID, 6)


def test_an_excluded_row_is_neither_applied_nor_counted_invalid(alice, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[e[0], workday, p[0], 2, "no", "Meeting", ""], [e[1], workday, p[0], 3, "no", "Meeting", ""]]))
    fixing.exclude_rows(wizard.batch(), row_ids=[row(wizard, 3).pk])
    assert wizard.to_confirm().status_code == 302
    wizard.confirm()
    batch = wizard.batch()
    assert (batch.status, batch.created_count, batch.skipped_count, batch.invalid_count) == ("applied", 1, 1, 0)
    assert list(Entry.objects.filter(upload_batch_id=batch.pk).values_list("hours", flat=True)) == [2]


@pytest.mark.parametrize(("keep", "kept_hours"), [("first", [1]), ("last", [3]), ("neither", [])])
def test_duplicate_resolution_keeps_exactly_the_chosen_rows(alice, acme_people, workday, keep, kept_hours):
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [[e[0], workday, p[0], h, "no", "Meeting", ""] for h in (1, 2, 3)] + [[e[1], workday, p[0], 4, "no", "Meeting", ""]]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    assert wizard.batch().invalid_count == 3
    fields = page_fields(wizard.preview())
    response = alice.post(fix_url(wizard), {**fields, "then": "duplicates", "keep": keep}, follow=True)
    excluded = 2 if keep != "neither" else 3
    assert f"{excluded} duplicate rows excluded." in messages_of(response)
    assert wizard.batch().invalid_count == 0
    wizard.to_confirm()
    wizard.confirm()
    assert (
        sorted(Entry.objects.filter(upload_batch_id=wizard.upload_id, employee__email=e[0]).values_list("hours", flat=True)) == kept_hours
    )
    assert Entry.objects.filter(upload_batch_id=wizard.upload_id, employee__email=e[1]).count() == 1


@pytest.fixture
def german_activities(alice, acme_people, workday):
    """Four rows, three with a German activity the spec does not know and cannot suggest a value for."""
    e, p = acme_people["emails"], acme_people["codes"]
    rows = [
        [e[i % 3], workday - datetime.timedelta(days=i), p[0], 2, "no", a, ""] for i, a in enumerate(["Programmieren"] * 3 + ["Meeting"])
    ]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    assert wizard.batch().invalid_count == 3
    return wizard


def test_find_and_replace_counts_first_then_replaces_over_requests(alice, bob, german_activities):
    wizard = german_activities
    fields = {**page_fields(wizard.preview()), "then": "replace", "replace-column": "activity", "replace-find": "Programmieren"}
    fields["replace-with"] = "Development"
    response = alice.post(fix_url(wizard), fields)
    count_page = alice.get(response["Location"])
    assert "3 rows will change." in count_page.content.decode()
    assert wizard.batch().invalid_count == 3  # counting changes nothing
    url = reverse("bulkupload:replace", kwargs={"spec": SPEC, "upload_id": wizard.upload_id})
    assert bob.post(url, page_fields(count_page, form_id=None)).status_code == 404
    done = alice.post(url, {"column": "activity", "find": "Programmieren", "with": "Development", "scope": "all"}, follow=True)
    assert "Replaced in 3 rows. 0 invalid row(s) left." in messages_of(done)
    assert sorted(wizard.batch().rows.values_list("values__activity", flat=True)) == ["Development"] * 3 + ["Meeting"]


def test_replace_only_in_invalid_rows_leaves_valid_ones(alice, german_activities):
    wizard = german_activities
    batch = wizard.batch()
    assert fixing.count_replacements(batch, column="activity", find="Meeting", scope=fixing.SCOPE_INVALID) == 0
    assert fixing.replace_values(batch, column="activity", find="Meeting", replace="Support", scope=fixing.SCOPE_INVALID) == 0
    assert row(wizard, 5).values["activity"] == "Meeting"
    assert fixing.replace_values(batch, column="activity", find="Programmieren", replace="Support", scope=fixing.SCOPE_INVALID) == 3


def test_replace_in_a_column_the_spec_has_not_is_refused_by_name(alice, german_activities):
    url = reverse("bulkupload:replace", kwargs={"spec": SPEC, "upload_id": german_activities.upload_id})
    response = alice.get(url, {"column": "salary", "find": "x", "with": "y"}, follow=True)
    assert "There is no column “salary” in this upload." in messages_of(response)


def test_a_replace_over_10000_rows_is_one_update_and_a_fixed_number_of_queries(demo, settings, acme, django_assert_num_queries):
    """Pinned: lock, scope, mark, one UPDATE, then per chunk of 2,000 one read and one write (5 chunks), then the file rules."""
    settings.BULKUPLOAD = {**getattr(settings, "BULKUPLOAD", {}), "CHUNK_SIZE": 2000, "MAX_ROWS": 20_000}
    from project.timesheets.models import Employee, Project

    from .test_query_counts import timesheet

    roster = (
        list(Employee.objects.filter(tenant=acme).order_by("pk").values_list("email", flat=True)),
        list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True)),
    )
    rows = [[*cells[:5], "Programmieren", cells[6]] for cells in timesheet(10_000, roster)]
    batch = services.create_batch(spec=get_spec(SPEC), user=get_user_model().objects.get(username="alice"))
    upload = io.BytesIO(csv_file(rows))
    upload.size = len(upload.getvalue())
    services.stage_upload(batch=batch, upload=upload, name="entries.csv")
    batch.refresh_from_db()
    assert (batch.total_rows, batch.invalid_count) == (10_000, 10_000)
    with django_assert_num_queries(1):
        assert fixing.count_replacements(batch, column="activity", find="Programmieren", scope=fixing.SCOPE_ALL) == 10_000
    with django_assert_num_queries(REPLACE_QUERIES):
        assert fixing.replace_values(batch, column="activity", find="Programmieren", replace="Admin") == 10_000
    batch.refresh_from_db()
    assert (batch.invalid_count, batch.new_count) == (0, 10_000)


#: Measured on SQLite and PostgreSQL alike; a query per row would add 10,000.
REPLACE_QUERIES = 42


def test_go_to_row_saves_the_pending_edit_and_lands_on_the_row(alice, six_invalid):
    wizard = six_invalid
    fields = page_fields(wizard.preview())
    fields[field_for(fields, row(wizard, 6), "hours")] = "1"
    response = alice.post(fix_url(wizard), {**fields, "row": "5", "then": "jump"}, follow=True)
    assert response.redirect_chain[-1][0].endswith("#row-5")
    assert row(wizard, 6).values["hours"] == "1"
