"""Value mapping and date order over the API (issue 14's values step, headless): the upload says what its file leaves
open, with counts and suggestions; POST values/ answers it as the wizard's step does, remembered for the next upload."""

from __future__ import annotations

import datetime

import pytest

from bulkupload import compat, tasks, values
from bulkupload.models import RememberedValues, UploadBatch
from project.timesheets.models import Entry

from .api_support import Api, token_for
from .helpers import csv_file


@pytest.fixture
def api(live_server, demo) -> Api:
    return Api(live_server.url, token_for("alice"))


def activity_rows(people, day: datetime.date, activities: list[str]) -> bytes:
    email, code = people["emails"][0], people["codes"][0]
    # One row a day: the same employee, day and project twice would be a duplicate.
    return csv_file([[email, day - datetime.timedelta(days=n), code, 1, "yes", a, f"row {n}"] for n, a in enumerate(activities)])


def date_rows(people, texts: list[str]) -> bytes:
    email, code = people["emails"][0], people["codes"][0]
    return csv_file([[email, text, code, 1, "yes", "Design", ""] for text in texts])


def column(upload: dict, key: str) -> dict:
    return next(entry for entry in upload["questions"]["values"] if entry["column"] == key)


def test_unmatched_values_are_offered_with_counts_and_suggestions_then_mapped(api, acme_people, workday):
    created = api.upload(activity_rows(acme_people, workday, ["Entwicklung", "Entwicklung", "Besprechung", "Desing"]))
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["counts"]["invalid"] == 4
    assert upload["questions"]["pending"] is True
    activity = column(upload, "activity")
    listed = [(v["text"], v["count"], v["suggestions"][:1], v["chosen"]) for v in activity["values"]]
    assert listed == [("Entwicklung", 2, ["Development"], None), ("Besprechung", 1, ["Meeting"], None), ("Desing", 1, ["Design"], None)]
    assert {"value": "Development", "label": "Development"} in activity["allowed"]

    answer = {"values": {"activity": {"Entwicklung": "Development", "Besprechung": "Meeting", "Desing": None}}}
    answered = api.post(f"uploads/{upload['id']}/values/", json=answer)
    assert answered.status_code == 200, answered.text
    after = answered.json()
    assert after["counts"]["invalid"] == 1  # "Desing" left invalid
    assert after["questions"]["answered"] is True and after["questions"]["pending"] is False
    chosen = {v["text"]: v["chosen"] for v in column(after, "activity")["values"]}
    assert chosen == {"Entwicklung": "Development", "Besprechung": "Meeting", "Desing": None}
    rows = api.get(f"uploads/{upload['id']}/rows/").json()["results"]
    assert [row["values"]["activity"] for row in rows] == ["Development", "Development", "Meeting", "Desing"]
    assert api.post(f"uploads/{upload['id']}/confirm/", json={"skip_invalid": True}).json()["batch"]["counts"]["created"] == 3
    assert sorted(Entry.objects.values_list("activity", flat=True)) == ["Development", "Development", "Meeting"]


def test_mapped_values_are_remembered_and_applied_to_the_next_upload(api, acme_people, workday):
    first = api.upload(activity_rows(acme_people, workday, ["Entwicklung", "Besprechung"])).json()
    api.post(f"uploads/{first['id']}/values/", json={"values": {"activity": {"Entwicklung": "Development"}}})
    assert RememberedValues.objects.get(owner__username="alice").choices == {"activity": {"entwicklung": "Development"}}

    second = api.upload(activity_rows(acme_people, workday - datetime.timedelta(days=30), ["entwicklung", "Besprechung"])).json()
    # Applied at once, and shown (and changeable): "entwicklung" is mapped, "Besprechung" still waits.
    assert second["counts"]["invalid"] == 1
    assert second["questions"]["remembered"] == {"activity": {"entwicklung": "Development"}}
    chosen = {v["text"]: v["chosen"] for v in column(second, "activity")["values"]}
    assert chosen == {"entwicklung": "Development", "Besprechung": None}
    changed = api.post(f"uploads/{second['id']}/values/", json={"values": {"activity": {"entwicklung": None}}}).json()
    assert changed["counts"]["invalid"] == 2
    assert RememberedValues.objects.get(owner__username="alice").choices == {"activity": {}}


def test_an_ambiguous_date_column_is_asked_and_confirm_waits_for_the_answer(api, acme, acme_people):
    texts = ["03/10/2026", "10/03/2026"]
    upload = api.upload(date_rows(acme_people, texts), name="either.csv").json()
    [question] = upload["questions"]["dates"]
    assert question["column"] == "date"
    assert question["examples"] == [
        {"text": "03/10/2026", "dmy": "2026-10-03", "mdy": "2026-03-10"},
        {"text": "10/03/2026", "dmy": "2026-03-10", "mdy": "2026-10-03"},
    ]
    refused = api.post(f"uploads/{upload['id']}/confirm/", json={})
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["columns"]) == ("dates_unanswered", ["date"])
    assert not Entry.objects.exists()

    answered = api.post(f"uploads/{upload['id']}/values/", json={"dates": {"date": "mdy"}})
    assert answered.status_code == 200, answered.text
    assert answered.json()["questions"]["dates"][0]["order"] == "mdy"
    assert UploadBatch.objects.get(pk=upload["id"]).date_orders == {"date": "mdy"}
    confirmed = api.post(f"uploads/{upload['id']}/confirm/", json={})
    assert confirmed.status_code == 200, confirmed.text
    # Month first for every row.
    assert sorted(Entry.objects.filter(tenant=acme).values_list("date", flat=True)) == [
        datetime.date(2026, 3, 10),
        datetime.date(2026, 10, 3),
    ]


def test_a_column_that_reads_one_way_only_asks_nothing(api, acme_people):
    upload = api.upload(date_rows(acme_people, ["13/10/2026", "03/10/2026"]), name="gb.csv").json()
    assert upload["questions"]["dates"] == []
    assert upload["counts"]["invalid"] == 0
    assert api.post(f"uploads/{upload['id']}/confirm/", json={}).json()["applied"] is True


@pytest.mark.parametrize(
    ("answer", "code", "where"),
    [
        ({"values": {"hours": {"x": "1"}}}, "unknown_column", "hours"),
        ({"values": {"activity": {"Sleeping": "Development"}}}, "unknown_value", "activity"),
        ({"values": {"activity": {"Entwicklung": "Napping"}}}, "not_allowed", "activity"),
        ({"dates": {"date": "mdy"}}, "unknown_date_column", "date"),
        ({"dates": {"date": "ymd"}}, "invalid_choice", None),
    ],
    ids=["column", "value", "target", "date-column", "order"],
)
def test_answers_the_upload_does_not_offer_are_refused_naming_where(api, acme_people, workday, answer, code, where):
    upload = api.upload(activity_rows(acme_people, workday, ["Entwicklung"])).json()
    refused = api.post(f"uploads/{upload['id']}/values/", json=answer)
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["code"] == code
    if where:
        assert error["column"] == where
    assert UploadBatch.objects.get(pk=upload["id"]).invalid_count == 1  # nothing applied


def test_an_upload_waiting_for_its_columns_cannot_be_answered_yet(api, acme_people, workday):
    header = ["Mitarbeiter", "Date", "Project code", "Hrs", "Billable", "Activity", "Note"]
    email, code = acme_people["emails"][0], acme_people["codes"][0]
    upload = api.upload(csv_file([[email, workday, code, 1, "yes", "Entwicklung", ""]], header=header)).json()
    assert upload["status"] == "needs_columns"
    assert upload["questions"] == {"pending": False, "answered": False, "remembered": {}, "dates": [], "values": []}
    refused = api.post(f"uploads/{upload['id']}/values/", json={})
    assert (refused.status_code, refused.json()["code"]) == (409, "needs_columns")
    staged = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {"Mitarbeiter": "employee_email", "Hrs": "hours"}}).json()
    assert [v["text"] for v in column(staged, "activity")["values"]] == ["Entwicklung"]


def test_the_wizard_does_not_ask_again_what_the_api_answered(api, acme_people, workday):
    upload = api.upload(activity_rows(acme_people, workday, ["Entwicklung"])).json()
    batch = UploadBatch.objects.get(pk=upload["id"])
    assert values.pending(batch, batch.owner)
    api.post(f"uploads/{upload['id']}/values/", json={"values": {"activity": {"Entwicklung": "Development"}}})
    batch.refresh_from_db()
    assert not values.pending(batch, batch.owner)


def test_a_file_read_again_is_asked_about_afresh(api, acme_people, workday):
    upload = api.upload(activity_rows(acme_people, workday, ["Entwicklung", "Besprechung"])).json()
    api.post(f"uploads/{upload['id']}/values/", json={"values": {"activity": {"Entwicklung": "Development"}}})
    # The columns answered again: every row is read anew from the file, and looked at as a new upload is.
    again = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {}}).json()
    assert again["questions"]["answered"] is False
    assert again["questions"]["remembered"] == {"activity": {"Entwicklung": "Development"}}
    assert again["counts"]["invalid"] == 1  # "Besprechung" waits again; "Entwicklung" mapped as remembered


def test_refusals_speak_the_clients_language(api, acme_people, workday):
    upload = api.upload(activity_rows(acme_people, workday, ["Sleeping"])).json()
    answer = {"values": {"activity": {"Sleeping": "Napping"}}}
    refused = api.post(f"uploads/{upload['id']}/values/", json=answer, headers={"Accept-Language": "de"})
    assert refused.json()["errors"][0]["message"] == "„Napping“ ist in „activity“ nicht erlaubt."


def test_a_file_read_by_a_task_is_asked_about_once_it_is_read(api, acme_people, settings):
    settings.TASKS = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}  # queued; run below, as a worker would
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1}
    created = api.upload(date_rows(acme_people, ["03/10/2026", "10/03/2026"]), name="either.csv")
    assert created.status_code == 202
    assert created.json()["questions"]["dates"] == []  # nothing read yet
    assert tasks.run_staging(created.json()["id"], sheet=None, positions=None) == "staged"

    upload = api.get(f"uploads/{created.json()['id']}/").json()
    assert upload["status"] == "ready"
    assert [question["column"] for question in upload["questions"]["dates"]] == ["date"]
    assert upload["questions"]["pending"] is True
    assert api.post(f"uploads/{upload['id']}/confirm/", json={}).json()["code"] == "dates_unanswered"


def test_staging_decides_the_values_step_so_showing_the_upload_writes_nothing(api, acme_people, workday):
    upload = api.upload(activity_rows(acme_people, workday, ["Entwicklung", "Besprechung"])).json()
    batch = UploadBatch.objects.get(pk=upload["id"])
    # Decided while the file was staged, before any page showed the upload.
    assert batch.value_check["ready"] is True and batch.value_check["step"] is True
    assert upload["questions"]["pending"] is True
    rows_before = list(batch.rows.order_by("pk").values_list("pk", "version"))

    shown = api.get(f"uploads/{upload['id']}/").json()
    api.get(f"uploads/{upload['id']}/rows/")

    after = UploadBatch.objects.get(pk=upload["id"])
    assert (after.updated_at, after.value_check) == (batch.updated_at, batch.value_check)
    assert list(after.rows.order_by("pk").values_list("pk", "version")) == rows_before
    assert [v["text"] for v in column(shown, "activity")["values"]] == ["Besprechung", "Entwicklung"]


def test_an_upload_staged_before_staging_decided_is_shown_without_questions_until_its_next_post(api, acme_people, workday):
    upload = api.upload(activity_rows(acme_people, workday, ["Entwicklung"])).json()
    UploadBatch.objects.filter(pk=upload["id"]).update(value_check={})  # as an upload staged by an earlier version left it

    shown = api.get(f"uploads/{upload['id']}/").json()
    assert shown["questions"]["pending"] is False and shown["questions"]["values"] == []
    assert UploadBatch.objects.get(pk=upload["id"]).value_check == {}  # the GET wrote nothing

    answered = api.post(f"uploads/{upload['id']}/values/", json={"values": {"activity": {"Entwicklung": "Development"}}})
    assert answered.status_code == 200, answered.text
    check = UploadBatch.objects.get(pk=upload["id"]).value_check
    assert check["ready"] is True and check["done"] is True and check["applied"] == {"activity": {"Entwicklung": "Development"}}
