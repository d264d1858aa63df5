"""The admin's upload button runs the wizard's values step too, in the admin, and the preview's suggestions with it."""

from __future__ import annotations

import io

import pytest

from bulkupload.models import RememberedValues
from project.timesheets.models import Entry

from .conftest import login
from .helpers import xlsx_file

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/timesheets/entry/upload/"


def test_the_admin_upload_offers_the_values_step_and_maps_a_value(demo, acme, acme_people, workday):
    admin = login("admin")
    upload_url = admin.post(UPLOAD)["Location"]
    prefix = "bulkupload_" + upload_url.split("/")[-3]
    email, code = acme_people["emails"][0], acme_people["codes"][0]
    file = io.BytesIO(xlsx_file([[email, workday, code, 2, "yes", "Entwicklung", ""]]))
    file.name = "german.xlsx"

    values_url = admin.post(upload_url, {f"{prefix}-current_step": "upload", "upload-file": file})["Location"]
    assert values_url.startswith(UPLOAD) and values_url.endswith("/values/")
    page = admin.get(values_url)
    assert "Entwicklung" in page.content.decode() and "Development" in page.content.decode()
    [name] = page.context["form"].names
    preview_url = admin.post(values_url, {f"{prefix}-current_step": "values", f"values-{name}": "Development"})["Location"]
    assert preview_url.startswith(UPLOAD) and preview_url.endswith("/preview/")
    to_confirm = admin.post(preview_url, {f"{prefix}-current_step": "preview"})["Location"]
    admin.post(to_confirm, {f"{prefix}-current_step": "confirm", "confirm-overwrite": "on"})

    assert list(Entry.objects.filter(tenant=acme).values_list("activity", flat=True)) == ["Development"]
    assert RememberedValues.objects.get(owner__username="admin").choices["activity"] == {"entwicklung": "Development"}
