"""The values step: unmatched choice/lookup values counted, suggested, mapped set-based, remembered for the next upload."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bulkupload import values
from bulkupload.models import RememberedValues, UploadBatch
from project.timesheets.models import Entry

from .helpers import Wizard, xlsx_file

pytestmark = pytest.mark.django_db


def rows_with(people, day, activities):
    email, code = people["emails"][0], people["codes"][0]
    # One row a day: the same employee, day and project twice would be a duplicate.
    return [[email, day - datetime.timedelta(days=n), code, 1, "yes", activity, f"row {n}"] for n, activity in enumerate(activities)]


def field_name(form, text):
    return next(f"{form.prefix}-{name}" if form.prefix else name for name, (_key, t, _c) in form.names.items() if t == text)


def test_unmatched_values_are_listed_with_counts_and_suggestions(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    file = xlsx_file(rows_with(acme_people, workday, ["Entwicklung"] * 3 + ["Besprechung"] * 2 + ["Desing", "Design"]))
    response = wizard.upload(file)
    assert response.status_code == 302 and response["Location"].endswith("/values/"), response.get("Location")
    page = alice.get(wizard.url("values"))
    assert page.status_code == 200
    [activity] = [entry for entry in page.context["form"].columns if entry.column.key == "activity"]
    listed = [(v.text, v.count, v.suggestions[:1]) for v in activity.values]
    # Most frequent first; "Design" is allowed and not listed; German labels and a typo find their value.
    assert listed == [("Entwicklung", 3, ["Development"]), ("Besprechung", 2, ["Meeting"]), ("Desing", 1, ["Design"])]
    content = page.content.decode()
    assert "Entwicklung" in content and ">3<" in content


def test_suggestion_by_normalised_text_comes_first():
    names = values._names([("Development", "Development"), ("Design", "Design")])
    assert values.suggest(" DEVELOPMENT. ", names)[0] == "Development"
    assert values.suggest("zzz", names) == []


def post_values(client, wizard, choices: dict[str, str]):
    form = client.get(wizard.url("values")).context["form"]
    data = {}
    for name, (_key, text, _chosen) in form.names.items():
        data[f"values-{name}"] = choices.get(text, "")
    return wizard.post_step("values", data)


def test_mapping_is_applied_then_remembered_for_the_next_upload(alice, acme_people, workday):
    file = xlsx_file(rows_with(acme_people, workday, ["Entwicklung"] * 3 + ["Besprechung"]))
    first = Wizard(alice).start()
    first.upload(file)
    assert first.batch().invalid_count == 4
    response = post_values(alice, first, {"Entwicklung": "Development", "Besprechung": "Meeting"})
    assert response.status_code == 302 and response["Location"].endswith("/preview/"), response
    batch = first.batch()
    assert batch.invalid_count == 0
    assert sorted(r.values["activity"] for r in batch.rows.all()) == ["Development"] * 3 + ["Meeting"]

    second = Wizard(alice).start()
    response = second.upload(xlsx_file(rows_with(acme_people, workday - datetime.timedelta(days=30), ["entwicklung", "Besprechung"])))
    # Applied at once, and still shown (and changeable) on the step.
    assert response["Location"].endswith("/values/")
    assert second.batch().invalid_count == 0
    page = alice.get(second.url("values"))
    assert "mapped as you mapped them last time" in page.content.decode()
    form = page.context["form"]
    assert {text: chosen for _name, (_key, text, chosen) in form.names.items()} == {"entwicklung": "Development", "Besprechung": "Meeting"}
    # Changed on the step: the rows follow, and the new choice is remembered.
    post_values(alice, second, {"entwicklung": "Design", "Besprechung": "Meeting"})
    assert sorted(r.values["activity"] for r in second.batch().rows.all()) == ["Design", "Meeting"]
    assert RememberedValues.objects.get(spec="timesheet-entries").choices["activity"]["entwicklung"] == "Design"
    second.to_confirm()
    second.confirm()
    assert Entry.objects.filter(upload_batch=second.upload_id, activity="Design").count() == 1


def test_a_value_left_invalid_restores_the_file_text(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows_with(acme_people, workday, ["Entwicklung", "Entwicklung"])))
    batch = values.apply_values(wizard.batch(), mappings={"activity": {"Entwicklung": "Development"}})
    assert batch.invalid_count == 0
    batch = values.apply_values(batch, mappings={"activity": {"Entwicklung": "Support"}})
    assert {r.values["activity"] for r in batch.rows.all()} == {"Support"}
    batch = values.apply_values(batch, mappings={"activity": {"Entwicklung": ""}})
    assert {r.values["activity"] for r in batch.rows.all()} == {"Entwicklung"}
    assert UploadBatch.objects.get(pk=batch.pk).invalid_count == 2


def test_a_file_without_unmatched_values_skips_the_step(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    response = wizard.upload(xlsx_file(rows_with(acme_people, workday, ["Design"])))
    assert response["Location"].endswith("/preview/")
    assert alice.get(wizard.url("values"))["Location"].endswith("/preview/")


@pytest.mark.parametrize("count", [300, 1200])
def test_apply_is_set_based_the_query_count_does_not_grow_with_rows(alice, acme_people, settings, count):
    settings.BULKUPLOAD = {**getattr(settings, "BULKUPLOAD", {}), "CHUNK_SIZE": 5000}
    email, code = acme_people["emails"][0], acme_people["codes"][0]
    # Different days so no daily total is exceeded; three German values over every row.
    start = datetime.date.today() - datetime.timedelta(days=count + 10)
    rows = [
        [email, start + datetime.timedelta(days=n), code, 1, "no", ["Entwicklung", "Besprechung", "Pflege"][n % 3], ""]
        for n in range(count)
    ]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    batch = wizard.batch()
    assert batch.invalid_count == count
    with CaptureQueriesContext(connection) as queries:
        batch = values.apply_values(
            batch, mappings={"activity": {"Entwicklung": "Development", "Besprechung": "Meeting", "Pflege": "Support"}}
        )
    assert batch.invalid_count == 0
    updates = [q["sql"] for q in queries.captured_queries if 'SET "values" = json' in q["sql"]]
    assert len(updates) == 3  # one statement per mapped value
    # Pinned: lock, the rows touched, three UPDATEs, the step's state, then revalidation in chunks (its bulk writes
    # split by the database's parameter limit, hence one more on SQLite at 1,200 rows).
    assert len(queries.captured_queries) == PINNED_QUERIES[connection.vendor, count], [q["sql"][:100] for q in queries.captured_queries]


PINNED_QUERIES = {("sqlite", 300): 27, ("sqlite", 1200): 28, ("postgresql", 300): 27, ("postgresql", 1200): 28}


def test_a_choice_cell_edit_box_offers_the_allowed_values(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    # 30 hours: the row is invalid, so its cells are edit boxes; "Qqqq" resembles no activity, so there is no values step.
    email, code = acme_people["emails"][0], acme_people["codes"][0]
    wizard.upload(xlsx_file([[email, workday, code, 30, "yes", "Qqqq", ""]]))
    content = alice.get(wizard.url("preview")).content.decode()
    assert 'list="id_fix-0-activity_values"' in content
    datalist = content.split('<datalist id="id_fix-0-activity_values">')[1].split("</datalist>")[0]
    assert [f'<option value="{a}">' in datalist for a in ("Development", "Design", "Meeting", "Support", "Admin")] == [True] * 5
