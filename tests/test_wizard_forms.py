"""The wizard's forms only check what the user entered: validating one (as formtools does, and again on a re-render)
writes nothing; the wizard's step does the work once, and a refusal there is an error on the same step."""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bulkupload.forms import ColumnsForm, UploadForm
from bulkupload.models import RememberedMapping, UploadBatch, UploadRow
from bulkupload.spec import get_spec

from .helpers import SPEC, Wizard, xlsx_file

pytestmark = pytest.mark.django_db

RENAMED = ["E-mail", "Date", "Proj", "Hrs", "Billable", "Activity", "Note"]


@pytest.fixture
def rows(acme_people, workday) -> list[list]:
    e, p = acme_people["emails"], acme_people["codes"]
    return [[e[i], workday - datetime.timedelta(days=i), p[0], 2, "no", "Admin", ""] for i in range(3)]


def test_a_valid_upload_form_keeps_no_file_and_stages_no_rows(alice, rows):
    wizard = Wizard(alice).start()
    batch = wizard.batch()
    upload = SimpleUploadedFile("entries.xlsx", xlsx_file(rows))

    form = UploadForm(data={}, files={"file": upload}, batch=batch, spec=get_spec(SPEC), prefix=None)

    assert form.is_valid(), form.errors
    assert form.plan is not None and form.plan.automatic
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.DRAFT and not batch.source_file and batch.file_name == ""
    assert not UploadRow.objects.filter(batch=batch).exists()


def test_a_valid_columns_form_stages_nothing_and_remembers_nothing(alice, rows):
    wizard = Wizard(alice).start()
    assert wizard.upload(xlsx_file(rows, header=RENAMED)).status_code == 302
    batch = wizard.batch()
    assert batch.needs_columns and not batch.is_staged
    choices = {"employee_email": 0, "date": 1, "project_code": 2, "hours": 3, "billable": 4, "activity": 5, "note": 6}
    data = {f"col_{index}": key for key, index in choices.items()}

    form = ColumnsForm(data=data, batch=batch, spec=get_spec(SPEC), user=batch.owner)

    assert form.is_valid(), form.errors
    assert form.positions == choices
    batch.refresh_from_db()
    assert not batch.is_staged and not UploadRow.objects.filter(batch=batch).exists()
    assert not RememberedMapping.objects.exists()


def test_the_columns_step_stages_the_file_and_remembers_the_choice_once_posted(alice, rows):
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows, header=RENAMED))
    choices = {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "billable", 5: "activity", 6: "note"}

    response = wizard.post_step("columns", {f"columns-col_{i}": key for i, key in choices.items()})

    assert response.status_code == 302 and response["Location"].endswith("/preview/")
    assert wizard.batch().is_staged and UploadRow.objects.filter(batch_id=wizard.upload_id).count() == 3
    assert RememberedMapping.objects.count() == 1


def test_a_refused_file_is_named_to_a_screen_reader_on_the_file_field(alice):
    wizard = Wizard(alice).start()

    page = wizard.upload(b"", "empty.csv").content.decode()

    field = re.search(r'<input type="file"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and "autofocus" in field
    assert 'aria-describedby="id_upload-file_help id_upload-file_errors"' in field
    assert re.search(r'id="id_upload-file_errors"[^>]*>\s*<p>The file is empty\.', page)


def test_rows_left_invalid_at_confirm_focus_the_choice_to_skip_them(alice, rows):
    rows[1][3] = 30  # an invalid row
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))
    wizard.to_confirm()

    page = wizard.confirm().content.decode()

    skip = re.search(r'<input type="checkbox" name="confirm-skip_invalid"[^>]*>', page).group(0)
    assert 'aria-describedby="id_confirm-skip_invalid_help confirm_errors"' in skip and "autofocus" in skip
    assert 'id="confirm_errors"' in page


class _Described(HTMLParser):
    """Every element id on a page, and every id an ``aria-describedby`` names (with the element naming it)."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.described: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"])
        for named in (found.get("aria-describedby") or "").split():
            self.described.append((found.get("name") or found.get("id") or tag, named))


def page_with_errors(wizard: Wizard, rows: list[list], where: str) -> str:
    """The wizard's ``where`` step shown again with an error on one of its fields (or, at confirm, on the form)."""
    if where == "upload":
        return wizard.upload(b"", "empty.csv").content.decode()
    if where == "columns":
        wizard.upload(xlsx_file(rows, header=RENAMED))
        twice = {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "hours", 5: "activity", 6: ""}
        return wizard.post_step("columns", {f"columns-col_{i}": key for i, key in twice.items()}).content.decode()
    if where == "values":
        rows[0][5] = "Entwicklung"  # a value the step asks about
        wizard.upload(xlsx_file(rows))
        form = wizard.client.get(wizard.url("values")).context["form"]
        return wizard.post_step("values", {f"values-{name}": "no such activity" for name in form.names}).content.decode()
    rows[1][3] = 30  # an invalid row: the preview shows its cells to fix, confirming without skipping it is refused
    wizard.upload(xlsx_file(rows))
    if where == "preview":
        return wizard.preview().content.decode()
    wizard.to_confirm()
    return wizard.confirm().content.decode()


@pytest.mark.parametrize("where", ["upload", "columns", "values", "preview", "confirm"])
def test_every_description_a_screen_reader_is_pointed_to_is_on_the_page(alice, rows, where):
    page = page_with_errors(Wizard(alice).start(), rows, where)

    parser = _Described()
    parser.feed(page)
    assert [(element, named) for element, named in parser.described if named not in parser.ids] == []
    # The errors shown are among them: each in the element the convention names, <field id>_errors or <form prefix>_errors.
    assert any(named.endswith("_errors") for _element, named in parser.described), parser.described


def test_an_invalid_cell_of_the_preview_is_marked_and_described_by_its_message(alice, rows):
    rows[1][3] = 30  # hours
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file(rows))

    page = wizard.preview().content.decode()

    hours = re.search(r'<input type="text" name="fix-0-hours"[^>]*>', page).group(0)
    note = re.search(r'<input type="text" name="fix-0-note"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in hours and "aria-invalid" not in note
    assert 'aria-describedby="id_fix-0-hours_errors"' in hours
    assert re.search(r'<span class="cell-error" id="id_fix-0-hours_errors">[^<]*\S', page)
