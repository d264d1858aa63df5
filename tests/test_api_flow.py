"""The JSON API's whole journey over real HTTP (a live server): upload → rows → fix → confirm → receipt → rollback."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.base import ContentFile

from bulkupload import services
from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .api_support import SPEC, Api, entries_csv, entry_rows, token_for
from .helpers import HEADER, csv_file, xlsx_file


@pytest.fixture
def api(live_server, demo) -> Api:
    return Api(live_server.url, token_for("alice"))


def test_upload_fix_confirm_receipt_rollback(api, acme, acme_people, workday):
    specs = api.get("specs/")
    assert specs.status_code == 200
    assert [spec["slug"] for spec in specs.json()] == [SPEC]
    hours = next(column for column in specs.json()[0]["columns"] if column["key"] == "hours")
    assert (hours["label"], hours["required"]) == ("Hours", True)
    template = api.get(f"specs/{SPEC}/template.xlsx")
    assert template.status_code == 200
    assert template.content[:2] == b"PK"

    created = api.upload(entries_csv(acme_people, workday))
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["status"] == "ready"
    assert upload["counts"] == {"new": 2, "update": 0, "unchanged": 0, "invalid": 1}
    assert upload["progress"] == {"done": 3, "total": 3}
    assert upload["batch"] is None
    assert created.headers["Location"].endswith(f"uploads/{upload['id']}/")
    assert Entry.objects.count() == 0  # nothing written before confirming

    rows = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()
    assert rows["count"] == 1
    [bad] = rows["results"]
    assert bad["number"] == 3  # the file's row (the header is row 1)
    assert "project_code" in bad["errors"]
    assert "P-999" in bad["errors"]["project_code"][0]

    fix = {"values": {"project_code": acme_people["codes"][1]}, "version": bad["version"]}
    fixed = api.patch(f"uploads/{upload['id']}/rows/{bad['number']}/", json=fix)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["status"] == "new"
    assert fixed.json()["errors"] == {}
    assert fixed.json()["version"] == bad["version"] + 1
    assert api.get(f"uploads/{upload['id']}/").json()["counts"]["invalid"] == 0

    confirmed = api.post(f"uploads/{upload['id']}/confirm/", json={"overwrite": True, "skip_invalid": False})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["applied"] is True
    receipt = confirmed.json()["batch"]
    assert receipt["counts"]["created"] == 3
    assert Entry.objects.filter(tenant=acme).count() == 3
    assert api.get(f"uploads/{upload['id']}/").json()["status"] == "applied"

    shown = api.get(f"batches/{receipt['id']}/").json()
    assert shown["status"] == "applied"
    assert shown["outcomes"]["created"] == 3

    rolled = api.post(f"batches/{receipt['id']}/rollback/", json={"force": False})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["rolled_back"] is True
    assert rolled.json()["batch"]["status"] == "rolled_back"
    assert Entry.objects.filter(tenant=acme).count() == 0


def test_confirm_with_invalid_rows_answers_409_with_the_reason(api, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday)).json()
    refused = api.post(f"uploads/{upload['id']}/confirm/", json={})
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_rows"
    assert "1 row is invalid" in refused.json()["detail"]
    assert Entry.objects.count() == 0

    skipped = api.post(f"uploads/{upload['id']}/confirm/", json={"skip_invalid": True})
    assert skipped.status_code == 200
    assert skipped.json()["batch"]["counts"] == {"created": 2, "updated": 0, "skipped": 1, "total": 3}


def test_second_confirm_applies_nothing_and_answers_the_same_batch(api, acme, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday, bad_project=False)).json()
    first = api.post(f"uploads/{upload['id']}/confirm/", json={})
    second = api.post(f"uploads/{upload['id']}/confirm/", json={})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["applied"], second.json()["applied"]) == (True, False)
    assert first.json()["batch"]["id"] == second.json()["batch"]["id"]
    assert Entry.objects.filter(tenant=acme).count() == 3


def test_stale_version_answers_409_and_keeps_the_newer_fix(api, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday)).json()
    row = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    path = f"uploads/{upload['id']}/rows/{row['number']}/"
    first = api.patch(path, json={"values": {"note": "first"}, "version": row["version"]})
    assert first.status_code == 200
    stale = api.patch(path, json={"values": {"note": "second"}, "version": row["version"]})
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale_version"
    assert stale.json()["rows"] == [row["number"]]
    assert UploadRow.objects.get(batch_id=upload["id"], row_number=row["number"]).values["note"] == "first"


def test_refused_file_answers_400_naming_what_and_where_and_leaves_no_upload(api, acme_people, workday):
    rows = entry_rows(acme_people, workday)
    header = [h for h in HEADER if h != "Hours"]
    refused = api.upload(csv_file([r[:3] + r[4:] for r in rows], header=header), name="no-hours.csv")
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert set(error) >= {"code", "message", "sheet", "row", "column"}
    assert "Hours" in error["message"]
    assert error["row"] == 1
    empty = api.upload(b"", name="empty.csv")
    assert empty.status_code == 400
    assert "empty" in empty.json()["errors"][0]["message"]
    missing = api.post(f"specs/{SPEC}/uploads/", data={})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "file"
    assert not UploadBatch.objects.exists()


def test_unmatched_headers_wait_for_the_columns_answer(api, acme, acme_people, workday):
    rows = entry_rows(acme_people, workday, bad_project=False)
    header = ["Mitarbeiter", "Date", "Project code", "Hrs", "Billable", "Activity", "Note"]
    upload = api.upload(xlsx_file(rows, header=header), name="own-headers.xlsx").json()
    assert upload["status"] == "needs_columns"
    shown = api.get(f"uploads/{upload['id']}/columns/").json()
    assert [c["header"] for c in shown["columns"]][:4] == ["Mitarbeiter", "Date", "Project code", "Hrs"]
    assert api.post(f"uploads/{upload['id']}/confirm/", json={}).status_code == 409

    wrong = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {"Mitarbeiter": "nonsense"}})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["code"] == "unknown_column"
    answered = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {"Mitarbeiter": "employee_email", "Hrs": "hours"}})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "ready"
    assert answered.json()["counts"]["new"] == 3
    assert api.post(f"uploads/{upload['id']}/confirm/", json={}).json()["applied"] is True
    assert Entry.objects.filter(tenant=acme).count() == 3


def test_mapping_with_the_upload_stages_at_once(api, acme_people, workday):
    rows = entry_rows(acme_people, workday, bad_project=False)
    header = ["Mitarbeiter", "Date", "Project code", "Hrs", "Billable", "Activity", "Note"]
    created = api.upload(csv_file(rows, header=header), mapping='{"Mitarbeiter": "employee_email", "Hrs": "hours"}')
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "ready"


def test_rows_pages_and_filters(api, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday)).json()
    first = api.get(f"uploads/{upload['id']}/rows/", params={"page_size": 2}).json()
    assert (first["count"], first["pages"], len(first["results"])) == (3, 2, 2)
    second = api.get(first["next"].split("/uploads/api/v1/", 1)[1]).json()
    assert [r["number"] for r in second["results"]] == [4]
    assert api.get(f"uploads/{upload['id']}/rows/", params={"page": 9}).status_code == 404
    assert api.get(f"uploads/{upload['id']}/rows/", params={"status": "bogus"}).status_code == 400


def test_rollback_names_rows_changed_since_unless_forced(api, acme, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday, bad_project=False)).json()
    batch = api.post(f"uploads/{upload['id']}/confirm/", json={}).json()["batch"]
    entry = Entry.objects.filter(tenant=acme).order_by("pk").first()
    entry.note = "changed by hand"
    entry.save()
    refused = api.post(f"batches/{batch['id']}/rollback/", json={})
    assert refused.status_code == 409
    assert refused.json()["code"] == "changed_since"
    assert refused.json()["rows"] == [2]
    assert Entry.objects.filter(tenant=acme).count() == 3
    forced = api.post(f"batches/{batch['id']}/rollback/", json={"force": True})
    assert forced.status_code == 200
    assert Entry.objects.filter(tenant=acme).count() == 0
    again = api.post(f"batches/{batch['id']}/rollback/", json={})
    assert (again.status_code, again.json()["rolled_back"]) == (200, False)


def test_a_fix_from_the_wizard_makes_the_apis_version_stale(api, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday)).json()
    row = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    batch = UploadBatch.objects.get(pk=upload["id"])
    stored = batch.rows.get(row_number=row["number"])
    services.save_fixes(batch=batch, edits={stored.pk: {"note": "fixed in the preview"}})  # as the wizard's fix form does

    stale = api.patch(f"uploads/{upload['id']}/rows/{row['number']}/", json={"values": {"note": "api"}, "version": row["version"]})
    assert stale.status_code == 409
    assert UploadRow.objects.get(pk=stored.pk).values["note"] == "fixed in the preview"


def test_rows_of_an_applied_upload_cannot_be_fixed(api, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday, bad_project=False)).json()
    api.post(f"uploads/{upload['id']}/confirm/", json={})
    refused = api.patch(f"uploads/{upload['id']}/rows/2/", json={"values": {"note": "late"}, "version": 0})
    assert (refused.status_code, refused.json()["code"]) == (409, "applied")
    assert api.patch(f"uploads/{upload['id']}/rows/99/", json={"values": {}, "version": 0}).status_code == 404


def test_a_version_read_before_the_file_was_read_again_is_stale(api, acme_people, workday):
    rows = entry_rows(acme_people, workday)
    header = ["Mitarbeiter", "Date", "Project code", "Hrs", "Billable", "Activity", "Note"]
    upload = api.upload(csv_file(rows, header=header), mapping='{"Mitarbeiter": "employee_email", "Hrs": "hours"}').json()
    row = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    # The same user answers the columns again (another tab, another script): every row is read anew.
    again = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {"Mitarbeiter": "employee_email", "Hrs": "hours"}})
    assert again.status_code == 200
    stale = api.patch(f"uploads/{upload['id']}/rows/{row['number']}/", json={"values": {"note": "x"}, "version": row["version"]})
    assert stale.status_code == 409
    fresh = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    assert fresh["version"] > row["version"]
    assert api.patch(f"uploads/{upload['id']}/rows/{row['number']}/", json={"values": {"note": "x"}, "version": fresh["version"]}).ok


def test_a_version_read_before_a_held_file_was_read_is_stale(api, acme_people, workday):
    upload = api.upload(entries_csv(acme_people, workday)).json()
    row = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    # Another file into the same upload (the wizard's upload step, another tab): its headers need choosing, so it is
    # held unread (the old rows are gone) until the columns are answered; then its rows are read.
    header = ["Mitarbeiter", "Date", "Project code", "Hrs", "Billable", "Activity", "Note"]
    other = csv_file(entry_rows(acme_people, workday - datetime.timedelta(days=1)), header=header)
    batch = UploadBatch.objects.get(pk=upload["id"])
    services.hold_upload(batch=batch, upload=ContentFile(other, name="other.csv"), name="other.csv")
    assert api.get(f"uploads/{upload['id']}/").json()["status"] == "needs_columns"
    answered = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {"Mitarbeiter": "employee_email", "Hrs": "hours"}})
    assert answered.status_code == 200, answered.text

    path = f"uploads/{upload['id']}/rows/{row['number']}/"
    stale = api.patch(path, json={"values": {"note": "meant for the first file"}, "version": row["version"]})
    assert stale.status_code == 409
    assert UploadRow.objects.get(batch_id=upload["id"], row_number=row["number"]).values["note"] == ""
    fresh = api.get(f"uploads/{upload['id']}/rows/", params={"status": "invalid"}).json()["results"][0]
    assert fresh["version"] > row["version"]
    assert api.patch(path, json={"values": {"note": "x"}, "version": fresh["version"]}).status_code == 200
