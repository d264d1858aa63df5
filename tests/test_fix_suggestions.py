"""The preview's edit boxes of lookup columns suggest the tenant's own values, and rule messages show dates as the page does."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.utils import formats, translation

from project.timesheets.models import Project

from .helpers import Wizard, xlsx_file
from .test_dates import client_in

pytestmark = pytest.mark.django_db


def suggested_codes(content: str) -> list[str]:
    """The options of the project code column's shared <datalist>, and the list the row's edit box points at."""
    box = re.search(r'<input[^>]*name="fix-0-project_code"[^>]*>', content)
    assert box, "the invalid row's project code has no edit box"
    assert 'list="bulkupload-suggest-project_code"' in box[0]
    datalist = content.split('<datalist id="bulkupload-suggest-project_code">')[1].split("</datalist>")[0]
    return re.findall(r'<option value="([^"]*)">', datalist)


def test_a_bad_project_code_is_offered_the_tenants_active_codes_only(alice, acme, globex, acme_people, workday):
    Project.objects.create(tenant=globex, code="GLX-ONLY", name="Globex's own")
    closed = Project.objects.get(tenant=acme, active=False).code
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[acme_people["emails"][0], workday, "P-9999", 1, "yes", "Design", ""]]))
    content = alice.get(wizard.url("preview")).content.decode()
    offered = suggested_codes(content)
    active = list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True))
    assert offered == active
    assert "GLX-ONLY" not in content
    assert closed not in offered  # a closed project would be refused: not suggested


def test_no_suggestions_beyond_the_limit(settings, alice, acme, acme_people, workday):
    active = Project.objects.filter(tenant=acme, active=True).count()
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "SUGGESTIONS_MAX": active - 1}
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[acme_people["emails"][0], workday, "P-9999", 1, "yes", "Design", ""]]))
    content = alice.get(wizard.url("preview")).content.decode()
    assert "bulkupload-suggest-project_code" not in content
    assert 'name="fix-0-project_code"' in content  # still an edit box, without a list


def shown(day: datetime.date, language: str) -> str:
    with translation.override(language):
        return formats.date_format(day, "SHORT_DATE_FORMAT")


@pytest.mark.parametrize(("language", "written"), [("de", "%d.%m.%Y"), ("en-gb", "%d/%m/%Y")])
def test_rule_messages_show_dates_in_the_pages_format(demo, acme, acme_people, workday, language, written):
    acme.lock_date = workday
    acme.save()
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    client: Client = client_in("alice", language)
    wizard = Wizard(client).start()
    email, codes = acme_people["emails"][0], acme_people["codes"]
    day = workday + datetime.timedelta(days=1)
    rows = [
        [email, workday, codes[0], 1, "yes", "Design", ""],  # locked
        [email, tomorrow, codes[0], 1, "yes", "Design", ""],  # in the future
        [email, day, codes[0], 16, "yes", "Design", ""],  # 16 + 9 hours on one day
        [email, day, codes[1], 9, "yes", "Design", ""],
    ]
    wizard.upload(xlsx_file(rows))
    content = client.get(wizard.url("preview")).content.decode()
    visible = re.sub(r'<input type="hidden"[^>]*>', "", content)  # a cell's text as loaded is kept, unseen, for saving
    for date in (workday, tomorrow, day):
        assert shown(date, language) == date.strftime(written)
        assert date.strftime(written) in visible
        assert date.isoformat() not in visible
