"""A second language: the German catalogue is complete and compiled, the pages render in German, values follow the locale."""

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

import bulkupload

from .helpers import Wizard, csv_file, xlsx_file

ENGINE = Path(bulkupload.__file__).parent
#: The engine's catalogue ships inside the package; the host's own strings stay in the host's (LOCALE_PATHS).
CATALOGUES = {
    "engine": ENGINE / "locale" / "de" / "LC_MESSAGES",
    "host": Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES",
}
STRING = r'"((?:[^"\\]|\\.)*)"'


def po_entries(path: Path) -> list[dict]:
    """The .po file's entries: msgid, plural, translations and flags."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": "", "msgid": "", "plural": None, "msgstr": []}
        current = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = line
            elif match := re.match(r"(msgid|msgid_plural|msgstr(?:\[\d\])?) " + STRING, line):
                current = match.group(1)
                if current == "msgid":
                    entry["msgid"] = match.group(2)
                elif current == "msgid_plural":
                    entry["plural"] = match.group(2)
                else:
                    entry["msgstr"].append(match.group(2))
            elif line.startswith('"') and current:
                text = re.match(STRING, line).group(1)
                if current == "msgid":
                    entry["msgid"] += text
                elif current == "msgid_plural":
                    entry["plural"] += text
                else:
                    entry["msgstr"][-1] += text
        if entry["msgid"]:
            entries.append(entry)
    return entries


def unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


@pytest.fixture
def german(alice) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    client.force_login(get_user_model().objects.get(username="alice"))
    return client


@pytest.fixture(params=sorted(CATALOGUES))
def catalogue(request) -> Path:
    return CATALOGUES[request.param]


def test_every_german_string_is_translated_and_none_is_fuzzy(catalogue):
    entries = po_entries(catalogue / "django.po")
    assert len(entries) > 40
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"])]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == [] and fuzzy == []


def test_compiled_catalogue_matches_the_po_file(catalogue):
    with (catalogue / "django.mo").open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    for entry in po_entries(catalogue / "django.po"):
        msgid = unescape(entry["msgid"])
        if entry["plural"] is None:
            assert translations.gettext(msgid) == unescape(entry["msgstr"][0]), msgid
        else:
            assert translations.ngettext(msgid, unescape(entry["plural"]), 5) == unescape(entry["msgstr"][1]), msgid


def test_placeholders_survive_translation(catalogue):
    for entry in po_entries(catalogue / "django.po"):
        wanted = sorted(re.findall(r"%\(\w+\)\w", entry["plural"] or entry["msgid"]))
        for text in entry["msgstr"]:
            assert sorted(re.findall(r"%\(\w+\)\w", text)) == wanted or not wanted, entry["msgid"]


def locations(po: Path) -> set[str]:
    return {path for line in po.read_text(encoding="utf-8").splitlines() if line.startswith("#: ") for path in line[3:].split()}


def test_the_engine_catalogue_holds_only_the_engine_strings_and_the_host_only_its_own():
    engine, host = locations(CATALOGUES["engine"] / "django.po"), locations(CATALOGUES["host"] / "django.po")

    assert engine and all((ENGINE / path).is_file() for path in engine), engine
    assert host and all((Path(settings.BASE_DIR) / path).is_file() for path in host), host
    assert not any(path.startswith("bulkupload/") for path in host)
    assert {"admin.py", "templates/bulkupload/base.html", "templates/bulkupload/wizard/preview.html"} <= engine


def test_upload_pages_render_in_german(german, acme_people, workday):
    index = german.get(reverse("bulkupload:index")).content.decode()
    assert '<html lang="de">' in index
    assert "Meine Uploads" in index and "Neuen Upload starten" in index and "Vorlage herunterladen (.xlsx)" in index

    wizard = Wizard(german).start()
    upload = german.get(wizard.url("upload")).content.decode()
    assert "Hochladen und prüfen" in upload and "Tabelle" in upload
    e, p = acme_people["emails"], acme_people["codes"]
    wizard.upload(csv_file([[e[0], workday, p[0], 30, "Support"]], header=["E-Mail", "Datum", "Projekt", "Std", "Activity"]), "de.csv")
    columns = german.get(wizard.url("columns")).content.decode()
    assert "Spalten zuordnen" in columns and "Diese Spalten verwenden" in columns and "Diese Spalte ignorieren" in columns


def test_german_messages_name_the_problem_in_german(german, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(german).start()
    wizard.upload(xlsx_file([[e[0], workday, p[0], 30, "ja", "Support", ""]]))
    preview = wizard.preview().content.decode()
    assert "Die Stunden dürfen höchstens 24 sein." in preview
    assert "Nur ungültige" in preview and "Ungültige Zeilen zum Korrigieren in Excel herunterladen (.xlsx)" in preview

    bad = Wizard(german).start().upload(b"", "leer.csv")
    assert "Die Datei ist leer." in bad.content.decode()


@pytest.mark.parametrize(
    ("language", "hours", "day"),
    [("en", "7.5", "11/17/2026"), ("de", "7,5", "17.11.2026")],
)
def test_preview_dates_and_numbers_follow_the_locale(alice, acme_people, language, hours, day):
    import datetime

    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(get_user_model().objects.get(username="alice"))
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(client).start()
    wizard.upload(xlsx_file([[e[0], datetime.date(2026, 11, 17), p[0], 7.5, "yes", "Support", ""]]))
    cells = [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", wizard.preview().content.decode(), re.S)]
    assert hours in cells and day in cells


def test_a_german_template_uploads_without_a_columns_step(german, alice, acme, acme_people, workday):
    from io import BytesIO

    from openpyxl import load_workbook

    from project.timesheets.models import Entry

    from .helpers import fill_template

    template = german.get(reverse("bulkupload:template", kwargs={"spec": "timesheet-entries"})).content
    header = [c.value for c in load_workbook(BytesIO(template)).worksheets[0][1]]
    assert header[:4] == ["E-Mail der Person", "Datum", "Projektcode", "Stunden"]
    e, p = acme_people["emails"], acme_people["codes"]
    filled = fill_template(template, [[e[0], workday, p[0], 4, "ja", "Meeting", ""]])
    # A colleague whose browser speaks English uploads the German template: the headers still match.
    wizard = Wizard(alice).start()
    response = wizard.upload(filled)
    assert response["Location"].endswith("/preview/")
    wizard.to_confirm()
    wizard.confirm()
    assert Entry.objects.get(tenant=acme).billable is True
