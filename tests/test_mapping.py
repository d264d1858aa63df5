"""Files with their own headers: the columns step, its suggestions, remembered choices, and the sheet choice."""

import io
from html.parser import HTMLParser

from django.contrib.sessions.backends.db import SessionStore
from openpyxl import Workbook

from bulkupload import mapping
from bulkupload.models import RememberedMapping, UploadBatch
from bulkupload.spec import Column, UploadSpec, get_spec
from project.timesheets.models import Entry

from .helpers import HEADER, SPEC, Wizard, csv_file, session_row, xlsx_file

RENAMED = ["E-mail", "Date", "Proj", "Hrs", "Billable", "Activity", "Note"]


def rows(people, day, hours=(7.5, 4)):
    e, p = people["emails"], people["codes"]
    return [[e[0], day, p[0], hours[0], "yes", "Development", ""], [e[1], day, p[1], hours[1], "no", "Meeting", "x"]]


def shown_choices(response) -> dict[str, str]:
    """File header → the spec column the page proposes for it."""
    form = response.context["wizard"]["form"]
    return {s.header: form[f"col_{s.index}"].value() for s in form.suggestions}


def post_columns(wizard: Wizard, choices: dict[int, str], **extra):
    return wizard.post_step("columns", {**{f"columns-col_{i}": key for i, key in choices.items()}, **extra})


def workbook(*sheets: tuple[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, lines in sheets:
        sheet = book.create_sheet(title)
        for line in lines:
            sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_suggestions_rank_exact_then_normalised_then_fuzzy():
    spec = get_spec(SPEC)
    found = {s.header: s for s in mapping.suggest_mapping(spec, ["Hours", "project_CODE", "E-mail", "Proj.", "Hrs", "Colour"])}
    assert found["Hours"].proposed == "hours"
    assert found["project_CODE"].proposed == "project_code"
    assert found["E-mail"].proposed == "employee_email"
    assert found["Proj."].proposed == ""  # "project_code" went to the better match
    assert found["Proj."].candidates[0][0] == "project_code"
    assert found["Hrs"].candidates[0][0] == "hours"
    assert found["Hours"].candidates[0][1] > found["project_CODE"].candidates[0][1] > found["Hrs"].candidates[0][1]
    assert found["Colour"].candidates == [] and found["Colour"].proposed == ""


def test_renamed_headers_map_with_the_suggestions(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    response = wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    assert response["Location"].endswith("/columns/")

    page = alice.get(response["Location"])
    assert page.status_code == 200
    proposed = shown_choices(page)
    assert proposed == {
        "E-mail": "employee_email",
        "Date": "date",
        "Proj": "project_code",
        "Hrs": "hours",
        "Billable": "billable",
        "Activity": "activity",
        "Note": "note",
    }
    response = post_columns(wizard, {i: proposed[h] for i, h in enumerate(RENAMED)})
    assert response["Location"].endswith("/preview/")
    batch = wizard.batch()
    assert (batch.status, batch.new_count, batch.invalid_count) == (UploadBatch.Status.READY, 2, 0)
    assert batch.headers["hours"] == "Hrs"
    assert "Hrs" in wizard.preview().content.decode()  # the preview names the user's own header

    wizard.to_confirm()
    assert wizard.confirm()["Location"].endswith(f"/batches/{batch.pk}/")
    assert Entry.objects.count() == 2


def test_confirmed_mapping_is_remembered_and_suggested_first(alice, acme_people, workday):
    german = ["Mitarbeiter", "Tag", "Projekt", "Aufwand", "Verrechnen", "Art der Arbeit", "Bemerkung"]
    choices = {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "billable", 5: "activity", 6: "note"}
    first = Wizard(alice).start()
    first.upload(csv_file(rows(acme_people, workday), header=german), "de.csv")
    assert shown_choices(alice.get(first.url("columns")))["Aufwand"] == ""  # nothing resembles "Aufwand"
    assert post_columns(first, choices)["Location"].endswith("/preview/")
    assert RememberedMapping.objects.get(spec=SPEC).choices["aufwand"] == "hours"

    second = Wizard(alice).start()
    response = second.upload(csv_file(rows(acme_people, workday), header=german), "de-again.csv")
    assert response["Location"].endswith("/columns/")
    page = alice.get(response["Location"])
    assert shown_choices(page) == {h: choices[i] for i, h in enumerate(german)}
    form = page.context["wizard"]["form"]
    hours = next(s for s in form.suggestions if s.header == "Aufwand")
    assert hours.candidates[0][0] == "hours"  # remembered: first in the list too


def test_remembered_mapping_is_per_user(alice, bob, acme_people, workday):
    header = ["Mitarbeiter", "Tag", "Projekt", "Aufwand", "Art der Arbeit"]
    first = Wizard(alice).start()
    first.upload(csv_file([[*r[:4], r[5]] for r in rows(acme_people, workday)], header=header), "de.csv")
    post_columns(first, {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "activity"})

    other = Wizard(bob).start()
    other.upload(csv_file([["someone@globex.example", workday, "G-1", 1, "Support"]], header=header), "de.csv")
    assert shown_choices(bob.get(other.url("columns")))["Aufwand"] == ""


def test_required_column_left_unmapped_blocks_with_a_message(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    response = post_columns(wizard, {0: "employee_email", 1: "date", 2: "project_code", 3: "", 4: "billable", 5: "activity", 6: "note"})
    assert response.status_code == 200
    assert "Choose a file column for the required column “Hours”." in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert wizard.batch().status == UploadBatch.Status.DRAFT
    # The preview is not reachable until the columns are chosen.
    assert wizard.preview()["Location"].endswith("/columns/")


def test_one_target_for_two_file_columns_is_refused(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    response = post_columns(wizard, {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "hours", 5: "activity", 6: ""})
    assert response.status_code == 200
    page = response.content.decode()
    assert "“Hours” is already fed by the file column “Hrs”." in page
    # The refused choice (the second "hours", file column 4) is invalid and described by its own message.
    select = error_choice(page, "columns-col_4")
    assert select.get("aria-invalid") == "true"
    assert cell_errors(page)[select.get("aria-describedby")] == "“Hours” is already fed by the file column “Hrs”."
    assert error_choice(page, "columns-col_3").get("aria-invalid") is None  # the first one stays valid
    assert wizard.batch().status == UploadBatch.Status.DRAFT


class _Tags(HTMLParser):
    """Start tags' attributes, and the text of each cell error by its id."""

    def __init__(self):
        super().__init__()
        self.tags, self.errors, self._open = [], {}, None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "span" and "cell-error" in (dict(attrs).get("class") or ""):
            self._open = dict(attrs)["id"]
            self.errors[self._open] = ""

    def handle_data(self, data):
        if self._open:
            self.errors[self._open] += data

    def handle_endtag(self, tag):
        if tag == "span":
            self._open = None


def error_choice(page: str, name: str) -> dict:
    parser = _Tags()
    parser.feed(page)
    return next(attrs for tag, attrs in parser.tags if tag == "select" and attrs.get("name") == name)


def cell_errors(page: str) -> dict[str, str]:
    parser = _Tags()
    parser.feed(page)
    return {key: text.strip() for key, text in parser.errors.items()}


def test_matching_headers_skip_the_columns_step(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    response = wizard.upload(xlsx_file(rows(acme_people, workday)))
    assert response["Location"].endswith("/preview/")
    assert not wizard.batch().needs_columns
    assert alice.get(wizard.url("columns"))["Location"].endswith("/preview/")
    assert "Match columns" not in wizard.preview().content.decode()


def test_unknown_extra_column_is_ignored_without_asking(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    response = wizard.upload(csv_file([[*r, "whatever"] for r in rows(acme_people, workday)], header=[*HEADER, "Colour"]), "x.csv")
    assert response["Location"].endswith("/preview/")
    assert wizard.batch().ignored_headers == ["Colour"]


def test_columns_step_survives_a_lost_session(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    session = SessionStore(session_key=alice.session.session_key)
    del session[f"wizard_{wizard.prefix}"]
    session.save()

    assert wizard.preview()["Location"].endswith("/columns/")
    proposed = shown_choices(alice.get(wizard.url("columns")))
    assert post_columns(wizard, {i: proposed[h] for i, h in enumerate(RENAMED)})["Location"].endswith("/preview/")


def test_fixes_after_mapping_survive_confirm(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday, hours=(7.5, 30)), header=RENAMED), "mine.csv")
    proposed = shown_choices(alice.get(wizard.url("columns")))
    post_columns(wizard, {i: proposed[h] for i, h in enumerate(RENAMED)})
    batch = wizard.batch()
    assert batch.invalid_count == 1
    bad = batch.rows.get(status="invalid")
    fix = {"fix-TOTAL_FORMS": "1", "fix-INITIAL_FORMS": "1", "fix-0-row": str(bad.pk), **{f"fix-0-{k}": v for k, v in bad.values.items()}}
    fix["fix-0-hours"] = "3"
    alice.post(f"/uploads/{SPEC}/{wizard.upload_id}/fix/", fix)
    assert wizard.batch().invalid_count == 0

    wizard.to_confirm()
    wizard.confirm()
    assert sorted(str(h) for h in Entry.objects.values_list("hours", flat=True)) == ["3.00", "7.50"]


def test_another_file_with_matching_headers_leaves_the_columns_step_out(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    assert wizard.batch().needs_columns
    wizard.post_step("columns", {"wizard_goto_step": "upload"})
    response = wizard.upload(xlsx_file(rows(acme_people, workday)))
    assert response["Location"].endswith("/preview/")
    assert not wizard.batch().needs_columns


def test_workbook_reads_the_first_sheet_with_the_spec_headers(alice, acme_people, workday):
    content = workbook(("Cover", [["Timesheets for March"], ["prepared by Ada"]]), ("Entries", [HEADER, *rows(acme_people, workday)]))
    wizard = Wizard(alice).start()
    assert wizard.upload(content)["Location"].endswith("/preview/")
    batch = wizard.batch()
    assert (batch.sheet_name, batch.new_count) == ("Entries", 2)
    assert "Sheet read: Entries." in wizard.preview().content.decode()  # the user sees which sheet was read


def test_several_sheets_with_the_headers_ask_which_to_read(alice, acme_people, workday):
    march, april = rows(acme_people, workday), rows(acme_people, workday, hours=(1, 2))[:1]
    content = workbook(("March", [HEADER, *march]), ("April", [HEADER, *april]))
    wizard = Wizard(alice).start()
    assert wizard.upload(content)["Location"].endswith("/columns/")
    page = alice.get(wizard.url("columns"))
    assert page.context["wizard"]["form"].plan.sheet == "March"  # the first sheet with the headers is the default
    assert 'name="sheet"' in page.content.decode()

    page = alice.get(wizard.url("columns"), {"sheet": "April"})
    proposed = shown_choices(page)
    response = post_columns(wizard, {i: proposed[h] for i, h in enumerate(HEADER)}, **{"columns-sheet": "April"})
    assert response["Location"].endswith("/preview/")
    batch = wizard.batch()
    assert (batch.sheet_name, batch.total_rows) == ("April", 1)


def test_blank_rows_above_the_header_are_skipped(alice, acme_people, workday):
    content = workbook(("Entries", [[], [], HEADER, *rows(acme_people, workday)]))
    wizard = Wizard(alice).start()
    assert wizard.upload(content)["Location"].endswith("/preview/")
    batch = wizard.batch()
    assert (batch.header_row, batch.new_count) == (3, 2)
    assert sorted(batch.rows.values_list("row_number", flat=True)) == [4, 5]


def test_another_users_columns_step_is_not_found(alice, bob, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    assert bob.get(wizard.url("columns")).status_code == 404
    assert bob.post(wizard.url("columns"), {f"{wizard.prefix}-current_step": "columns"}).status_code == 404


def test_coming_back_to_the_columns_step_shows_the_confirmed_choice(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday), header=RENAMED), "mine.csv")
    choices = {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "", 5: "activity", 6: "note"}  # "Billable" ignored
    post_columns(wizard, choices)

    back = wizard.post_step("preview", {"wizard_goto_step": "columns"})
    assert back["Location"].endswith("/columns/")
    page = alice.get(back["Location"])
    assert shown_choices(page) == {h: choices[i] for i, h in enumerate(RENAMED)}
    assert "Change the columns" in wizard.preview().content.decode()


def test_coming_back_to_the_columns_step_keeps_the_fixes_made_in_the_preview(alice, acme_people, workday):
    wizard = Wizard(alice).start()
    wizard.upload(csv_file(rows(acme_people, workday, hours=(7.5, 30)), header=RENAMED), "mine.csv")
    proposed = shown_choices(alice.get(wizard.url("columns")))
    post_columns(wizard, {i: proposed[h] for i, h in enumerate(RENAMED)})
    bad = wizard.batch().rows.get(status="invalid")
    fix = {"fix-TOTAL_FORMS": "1", "fix-INITIAL_FORMS": "1", "fix-0-row": str(bad.pk), **{f"fix-0-{k}": v for k, v in bad.values.items()}}
    fix["fix-0-hours"] = "3"
    alice.post(f"/uploads/{SPEC}/{wizard.upload_id}/fix/", fix)

    assert alice.get(wizard.url("columns")).status_code == 200  # only looking does not read the file again
    assert wizard.batch().invalid_count == 0
    assert wizard.batch().rows.get(pk=bad.pk).values["hours"] == "3"


def test_labels_marked_for_translation_match_in_either_language():
    from django.utils import translation
    from django.utils.translation import gettext_lazy

    class Hours(UploadSpec):
        slug = "hours-only"
        columns = (Column("hours", gettext_lazy("Hours"), required=True), Column("note", gettext_lazy("Note")))

    with translation.override("de"):
        for header in (["Stunden", "Notiz"], ["Hours", "Note"]):
            assert mapping.maps_automatically(Hours(), header)
            assert mapping.map_header(Hours(), header).positions == {"hours": 0, "note": 1}


def test_choosing_the_columns_of_a_wide_file_keeps_the_session_small(alice, acme_people, workday):
    extra = [f"Extra {i}" for i in range(150)]
    header = [*RENAMED, *extra]
    wizard = Wizard(alice).start()
    wizard.upload(csv_file([[*r, *("x" * len(extra))] for r in rows(acme_people, workday)], header=header), "wide.csv")
    proposed = shown_choices(alice.get(wizard.url("columns")))
    assert post_columns(wizard, {i: proposed[h] for i, h in enumerate(header)})["Location"].endswith("/preview/")
    assert len(session_row(alice).session_data) < 4096
