"""A step opens and checks the uploaded file once: its plan and its staged rows come from one book (issues 13 and 15).

Every opening (size, format, archive and extent checks) logs one debug record from ``bulkupload.reading``;
the tests count them over real requests and a real command, nothing mocked.
"""

import io
import logging

import pytest
from django.core.management import call_command

from bulkupload.models import UploadBatch

from .helpers import SPEC, Wizard, csv_file, xlsx_file

RENAMED = ["E-mail", "Date", "Proj", "Hrs", "Billable", "Activity", "Note"]


def rows(people, day):
    e, p = people["emails"], people["codes"]
    return [[e[0], day, p[0], 7.5, "yes", "Development", ""], [e[1], day, p[1], 4, "no", "Meeting", "x"]]


@pytest.fixture
def openings(caplog):
    """The files opened since the last ``clear()``, by name, as ``bulkupload.reading`` logs each opening."""
    caplog.set_level(logging.DEBUG, logger="bulkupload.reading")

    class Openings:
        def names(self) -> list[str]:
            return [r.args[0] for r in caplog.records if r.name == "bulkupload.reading" and r.msg.startswith("Opened and checked")]

        def clear(self) -> None:
            caplog.clear()

    return Openings()


@pytest.mark.parametrize("name,content", [("march.xlsx", xlsx_file), ("march.csv", csv_file)])
def test_the_upload_step_opens_the_file_once_for_its_plan_and_its_rows(alice, acme_people, workday, openings, name, content):
    wizard = Wizard(alice).start()

    response = wizard.upload(content(rows(acme_people, workday)), name)

    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    assert wizard.batch().total_rows == 2
    assert openings.names() == [name]


@pytest.mark.parametrize("name,content", [("march.xlsx", xlsx_file), ("march.csv", csv_file)])
def test_a_large_upload_read_by_a_task_at_once_opens_the_file_once(settings, alice, acme_people, workday, openings, name, content):
    # Over the threshold the file is kept and its reading queued; the immediate backend (the default, as in the demo)
    # runs that task at once, in this request: it reads the file as the request opened it, not the kept copy again.
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1}
    wizard = Wizard(alice).start()

    response = wizard.upload(content(rows(acme_people, workday)), name)

    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    batch = wizard.batch()
    assert batch.total_rows == 2 and batch.task_id  # read by the task
    assert openings.names() == [name]


def test_the_columns_step_opens_the_held_file_once(alice, acme_people, workday, openings):
    wizard = Wizard(alice).start()
    response = wizard.upload(xlsx_file(rows(acme_people, workday), header=RENAMED), "renamed.xlsx")
    assert response["Location"].endswith("/columns/")
    assert openings.names() == ["renamed.xlsx"]  # planned; the file is kept unread for the columns step
    openings.clear()

    page = wizard.client.get(wizard.url("columns"))
    form = page.context["wizard"]["form"]
    response = wizard.post_step("columns", {f"columns-col_{s.index}": s.proposed for s in form.suggestions})

    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    assert wizard.batch().total_rows == 2
    assert openings.names() == ["renamed.xlsx"]  # the page used the plan kept at upload; staging opened it once


def test_the_command_opens_the_file_once_to_plan_and_stage_it(acme, acme_people, workday, tmp_path, openings):
    path = tmp_path / "march.xlsx"
    path.write_bytes(xlsx_file(rows(acme_people, workday)))

    call_command("bulkupload", "import", SPEC, str(path), "--user", "alice", "--dry-run", stdout=io.StringIO(), stderr=io.StringIO())

    assert UploadBatch.objects.get().total_rows == 2
    assert openings.names() == ["march.xlsx"]


def test_the_api_answers_the_columns_from_the_kept_plan_and_opens_the_held_file_once(live_server, demo, acme_people, workday, openings):
    from .api_support import Api, token_for

    api = Api(live_server.url, token_for("alice"))
    header = ["Mitarbeiter", "Date", "Project code", "Hrs", "Billable", "Activity", "Note"]
    upload = api.upload(xlsx_file(rows(acme_people, workday), header=header), name="own-headers.xlsx").json()
    assert upload["status"] == "needs_columns"
    assert openings.names() == ["own-headers.xlsx"]  # planned; kept unread, with its plan
    openings.clear()

    shown = api.get(f"uploads/{upload['id']}/columns/").json()
    assert [c["header"] for c in shown["columns"]][:4] == header[:4]
    answered = api.post(f"uploads/{upload['id']}/columns/", json={"mapping": {"Mitarbeiter": "employee_email", "Hrs": "hours"}})
    assert answered.status_code == 200 and answered.json()["counts"]["new"] == 2
    assert openings.names() == ["own-headers.xlsx"]  # only to stage the rows: the columns came from the plan
