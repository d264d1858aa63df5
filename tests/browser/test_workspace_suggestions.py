"""A lookup column's edit box in Chromium: it suggests the tenant's own codes, and picking one makes the row valid.

The page is checked by axe-core and photographed (``tests/artifacts/<test>/``).
"""

from __future__ import annotations

from playwright.sync_api import expect

from project.timesheets.models import Project

from .conftest import tab_to
from .test_journeys import log_in
from .test_workspace_edits import cell, upload


def test_picking_a_suggested_project_code_makes_the_row_valid(page, steps, acme, globex, acme_people, workday, tmp_path):
    Project.objects.create(tenant=globex, code="P-999", name="Globex's own")
    e, p = acme_people["emails"], acme_people["codes"]
    log_in(page, steps)
    batch = upload(page, steps, tmp_path, [[e[0], workday, "P-99", 2, "no", "Meeting", ""], [e[1], workday, p[0], 2, "no", "Meeting", ""]])
    code = page.get_by_label("Project code, row 2")
    expect(code).to_have_attribute("aria-invalid", "true")
    offered = code.evaluate("box => [...box.list.options].map(option => option.value)")
    active = list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True))
    assert offered == active and "P-999" not in offered
    steps.check("suggestions")
    # By keyboard: into the box, over what it holds, the first suggestion. Headless Chromium draws no popup for a
    # <datalist> (Arrow keys reach nothing), so picking it is typing what the pick would put in the box.
    tab_to(page, code, limit=200)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(offered[0])
    expect(code).to_have_value(p[0])
    page.keyboard.press("Tab")
    expect(page.locator("#row-2 [data-role=badge]")).to_have_text("New")
    expect(code).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-count="invalid"]')).to_have_text("0")
    steps.check("suggestion-picked")
    assert cell(batch, 2, "project_code") == p[0]
