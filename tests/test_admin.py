"""The admin: upload history read-only with a rollback action, and the Entry admin's upload button and export."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from bulkupload import background, compat, services
from bulkupload.models import UploadBatch
from bulkupload.spec import get_spec
from project.timesheets.models import Employee, Entry, Membership, Project

from .conftest import login
from .helpers import HEADER, SPEC, worker_died, xlsx_file

BATCHES = reverse("admin:bulkupload_uploadbatch_changelist")
ENTRIES = reverse("admin:timesheets_entry_changelist")
ROWS = reverse("admin:bulkupload_uploadrow_changelist")
UPLOAD = reverse("admin:timesheets_entry_bulkupload_start")
#: The last breadcrumb of every admin upload page: the pages have the admin's look.
CRUMB = '<li aria-current="page">Upload spreadsheet</li>'


def rows_for(people, day, hours=(7.5, 4, 8)):
    e, p = people["emails"], people["codes"]
    return [
        [e[0], day, p[0], hours[0], "yes", "Development", "Sprint work"],
        [e[1], day, p[1], hours[1], "no", "Meeting", ""],
        [e[2], day, p[0], hours[2], "yes", "Support", "Hotline"],
    ]


def apply_rows(rows, *, skip_invalid=False) -> UploadBatch:
    alice = get_user_model().objects.get(username="alice")
    batch = services.create_batch(spec=get_spec(SPEC), user=alice)
    services.stage_upload(batch=batch, upload=io.BytesIO(xlsx_file(rows)), name="march.xlsx")
    return services.apply_batch(batch_id=batch.pk, skip_invalid=skip_invalid)[0]


def staff(acme, *codenames: str) -> Client:
    """A staff member of Acme with exactly these permissions."""
    user = get_user_model().objects.create_user("carol", password="x", is_staff=True)
    Membership.objects.create(user=user, tenant=acme)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return login("carol")


@pytest.fixture
def admin(demo) -> Client:
    return login("admin")


def act(client: Client, url: str, action: str, objects, **extra):
    return client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **extra})


def roll_back(client: Client, objects):
    """Choose the action, then answer its intermediate page as a person would (what that page's form posts)."""
    asked = act(client, BATCHES, "rollback_selected", objects)
    if asked.status_code != 200:
        return asked
    page = asked.content.decode()
    assert 'name="confirm_rollback"' in page
    ids = re.findall(rf'name="{ACTION_CHECKBOX_NAME}" value="([^"]+)"', page)
    forced = re.findall(r'name="force" value="([^"]+)"', page)
    return client.post(BATCHES, {"action": "rollback_selected", ACTION_CHECKBOX_NAME: ids, "force": forced, "confirm_rollback": "yes"})


# --- upload history --------------------------------------------------------------------


def test_batch_list_shows_owner_spec_file_status_and_counts_with_filters(admin, acme_people, workday):
    batch = apply_rows(rows_for(acme_people, workday))

    page = admin.get(BATCHES).content.decode()
    applied = admin.get(BATCHES, {"status__exact": "applied", "spec": SPEC}).content.decode()
    drafts = admin.get(BATCHES, {"status__exact": "draft"}).content.decode()

    for text in ("march.xlsx", "alice", SPEC, "Applied", "Owner", "Upload type", "Total rows", "Created count"):
        assert text in page
    assert str(batch.pk) in applied
    assert str(batch.pk) not in drafts


def test_nobody_edits_upload_history_by_hand(admin, acme_people, workday):
    batch = apply_rows(rows_for(acme_people, workday))
    change_url = reverse("admin:bulkupload_uploadbatch_change", args=[batch.pk])

    page = admin.get(change_url)
    posted = admin.post(change_url, {"status": "draft"})

    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    assert admin.get(reverse("admin:bulkupload_uploadbatch_add")).status_code == 403
    assert "delete_selected" not in admin.get(BATCHES).content.decode()
    batch.refresh_from_db()
    assert batch.status == UploadBatch.Status.APPLIED


def test_rows_are_shown_read_only_with_their_errors_and_outcome(admin, acme_people, workday):
    batch = apply_rows(rows_for(acme_people, workday, hours=(7.5, 4, 30)), skip_invalid=True)
    detail = admin.get(reverse("admin:bulkupload_uploadbatch_change", args=[batch.pk])).content.decode()
    link = re.search(r'href="([^"]*uploadrow/\?batch__id__exact=[^"]+)"', detail).group(1)

    rows = admin.get(link.replace("&amp;", "&")).content.decode()

    assert "Hours must be at most 24." in rows
    assert rows.count("Created") >= 2 and "Skipped" in rows
    assert 'name="_save"' not in admin.get(reverse("admin:bulkupload_uploadrow_change", args=[batch.rows.first().pk])).content.decode()


# --- rollback action ---------------------------------------------------------------------


@pytest.fixture
def updated_batch(acme, acme_people, workday):
    """A first batch creates three entries; the second updates row 3's entry and creates one more."""
    apply_rows(rows_for(acme_people, workday))
    before = sorted(Entry.objects.values_list("pk", "hours", "note"))
    e, p = acme_people["emails"], acme_people["codes"]
    second = apply_rows([[e[1], workday, p[1], 5, "no", "Meeting", "more"], [e[1], workday, p[0], 1, "no", "Admin", "new"]])
    return second, before


def test_roll_back_selected_batches_restores_the_entries(admin, updated_batch):
    second, before = updated_batch

    asked = act(admin, BATCHES, "rollback_selected", [second])

    # Always asked first, as Django's delete action does, even when nothing conflicts; nothing happens yet.
    assert asked.status_code == 200 and "Yes, roll back" in asked.content.decode()
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.APPLIED
    response = roll_back(admin, [second])
    assert response.status_code == 302
    assert sorted(Entry.objects.values_list("pk", "hours", "note")) == before
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.ROLLED_BACK
    assert "Rolled back 1 batch." in admin.get(BATCHES).content.decode()


def test_roll_back_asks_first_when_entries_changed_since_naming_the_rows(admin, updated_batch, acme_people):
    second, before = updated_batch
    Entry.objects.filter(note="more").update(note="edited by hand")

    asked = act(admin, BATCHES, "rollback_selected", [second])

    page = asked.content.decode()
    assert asked.status_code == 200
    assert "Row 2 was changed after this upload" in page
    assert "Yes, roll back anyway" in page and '<li aria-current="page">Roll back</li>' in page
    assert Entry.objects.filter(note="edited by hand").exists()  # nothing happened yet

    confirmed = act(admin, BATCHES, "rollback_selected", [second], force=[str(second.pk)], confirm_rollback="yes")

    assert confirmed.status_code == 302
    assert sorted(Entry.objects.values_list("pk", "hours", "note")) == before


def test_rolling_back_twice_does_nothing_the_second_time(admin, updated_batch):
    second, before = updated_batch
    roll_back(admin, [second])

    act(admin, BATCHES, "rollback_selected", [second])

    assert "1 batch was not applied (or already rolled back); nothing was done to it." in admin.get(BATCHES).content.decode()
    assert sorted(Entry.objects.values_list("pk", "hours", "note")) == before


def test_roll_back_is_refused_without_the_change_permission(acme, updated_batch):
    second, _before = updated_batch
    viewer = staff(acme, "view_uploadbatch")

    listing = viewer.get(BATCHES).content.decode()
    act(viewer, BATCHES, "rollback_selected", [second])

    assert "rollback_selected" not in listing
    second.refresh_from_db()
    assert second.status == UploadBatch.Status.APPLIED


@pytest.mark.parametrize("entry_codenames", [(), ("change_entry",), ("delete_entry",)])
def test_roll_back_is_refused_without_deleting_and_changing_the_entries(acme, updated_batch, entry_codenames):
    second, _before = updated_batch
    clerk = staff(acme, "view_uploadbatch", "change_uploadbatch", *entry_codenames)

    act(clerk, BATCHES, "rollback_selected", [second])

    second.refresh_from_db()
    assert second.status == UploadBatch.Status.APPLIED
    assert Entry.objects.filter(note="new").exists()
    page = clerk.get(BATCHES).content.decode()
    assert f"“{second}” was not rolled back: that deletes and changes entries, which you may not do." in page


def test_roll_back_by_staff_who_may_delete_and_change_the_entries(acme, updated_batch):
    second, before = updated_batch
    clerk = staff(acme, "view_uploadbatch", "change_uploadbatch", "change_entry", "delete_entry")

    roll_back(clerk, [second])

    second.refresh_from_db()
    assert second.status == UploadBatch.Status.ROLLED_BACK
    assert sorted(Entry.objects.values_list("pk", "hours", "note")) == before


# --- the Entry admin: upload button and export ------------------------------------------------


def test_the_upload_button_shows_for_staff_who_may_add_and_change_entries(acme):
    editor = staff(acme, "view_entry", "add_entry", "change_entry")

    assert "Upload spreadsheet" in editor.get(ENTRIES).content.decode()
    assert editor.get(UPLOAD).status_code == 200


@pytest.mark.parametrize("codenames", [("view_entry", "change_entry"), ("view_entry", "add_entry"), ("view_entry",)])
def test_the_upload_button_and_wizard_are_refused_without_add_and_change(acme, codenames):
    limited = staff(acme, *codenames)

    assert "Upload spreadsheet" not in limited.get(ENTRIES).content.decode()
    assert limited.get(UPLOAD).status_code == 403
    assert limited.post(UPLOAD).status_code == 403
    assert UploadBatch.objects.count() == 0


def test_the_admin_upload_runs_the_wizard_in_the_admin_look(admin, acme, acme_people, workday):
    start = admin.get(UPLOAD).content.decode()
    assert CRUMB in start and "Entries" in start and "Download the template" in start

    created = admin.post(UPLOAD)
    upload_url = created["Location"]
    assert upload_url.startswith("/admin/timesheets/entry/upload/") and upload_url.endswith("/upload/")
    prefix = "bulkupload_" + upload_url.split("/")[-3]
    file = io.BytesIO(xlsx_file(rows_for(acme_people, workday)))
    file.name = "march.xlsx"

    previewed = admin.post(upload_url, {f"{prefix}-current_step": "upload", "upload-file": file})
    preview_url = previewed["Location"]
    preview = admin.get(preview_url).content.decode()
    to_confirm = admin.post(preview_url, {f"{prefix}-current_step": "preview"})
    confirm_page = admin.get(to_confirm["Location"]).content.decode()
    done = admin.post(to_confirm["Location"], {f"{prefix}-current_step": "confirm", "confirm-overwrite": "on"})

    assert preview_url.startswith("/admin/timesheets/entry/upload/") and preview_url.endswith("/preview/")
    assert CRUMB in preview and 'data-count="new">3<' in preview
    assert CRUMB in confirm_page
    assert done["Location"] == ENTRIES
    assert Entry.objects.filter(tenant=acme).count() == 3
    assert "3 created, 0 updated, 0 skipped." in admin.get(ENTRIES).content.decode()


def test_export_selected_writes_the_template_format(admin, acme_people, workday):
    apply_rows(rows_for(acme_people, workday))
    chosen = list(Entry.objects.order_by("pk")[:2])

    response = act(admin, ENTRIES, "export_selected_as_spreadsheet", chosen)

    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 3


def test_export_is_offered_with_the_view_permission_only(acme, acme_people, workday):
    apply_rows(rows_for(acme_people, workday))
    viewer = staff(acme, "view_entry")

    response = act(viewer, ENTRIES, "export_selected_as_spreadsheet", Entry.objects.all())

    assert response.status_code == 200 and response.content.startswith(b"PK")


def test_export_is_refused_without_any_entry_permission(acme, acme_people, workday):
    apply_rows(rows_for(acme_people, workday))
    outsider = staff(acme, "view_uploadbatch")

    response = act(outsider, ENTRIES, "export_selected_as_spreadsheet", Entry.objects.all())

    assert response.status_code == 403


def test_fixing_a_row_in_the_admin_preview_stays_in_the_admin(admin, acme, acme_people, workday, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "PREVIEW_PAGE_SIZE": 1}
    created = admin.post(UPLOAD)
    upload_id = created["Location"].split("/")[-3]
    file = io.BytesIO(xlsx_file(rows_for(acme_people, workday, hours=(30, 4, 31))))
    file.name = "march.xlsx"
    admin.post(created["Location"], {f"bulkupload_{upload_id}-current_step": "upload", "upload-file": file})
    batch = UploadBatch.objects.get(pk=upload_id)
    bad = batch.rows.filter(status="invalid").order_by("row_number")[1]
    preview_url = reverse("admin:timesheets_entry_bulkupload_wizard", args=[upload_id, "preview"])
    # The second page of the invalid rows: where the user is when they fix the row on it.
    preview = admin.get(preview_url, {"status": "invalid", "page": 2}).content.decode()
    fix_url = reverse("admin:timesheets_entry_bulkupload_fix", args=[upload_id])
    assert f'action="{fix_url}"' in preview
    fix_form = preview[preview.index(f'action="{fix_url}"') :]
    kept = dict(re.findall(r'<input type="hidden" name="(status|page)" value="([^"]*)">', fix_form.split("</form>")[0]))
    assert kept == {"status": "invalid", "page": "2"}

    cells = {f"fix-0-{key}": value for key, value in bad.values.items()} | {"fix-0-hours": "8"}
    management = {"fix-TOTAL_FORMS": 1, "fix-INITIAL_FORMS": 1, "fix-MIN_NUM_FORMS": 0, "fix-MAX_NUM_FORMS": 500}
    response = admin.post(fix_url, {**management, "fix-0-row": bad.pk, **cells, **kept})

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == preview_url  # the admin's preview, not the site's
    assert parse_qs(location.query) == {"status": ["invalid"], "page": ["2"]}  # the same filter and page
    batch.refresh_from_db()
    assert batch.invalid_count == 1


def queued_admin_upload(admin, people, day, settings):
    """An admin upload large enough for a worker, queued where no worker takes it: its id and the upload's response."""
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 2}
    settings.TASKS = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}
    created = admin.post(UPLOAD)
    upload_id = created["Location"].split("/")[-3]
    file = io.BytesIO(xlsx_file(rows_for(people, day)))
    file.name = "march.xlsx"
    return upload_id, admin.post(created["Location"], {f"bulkupload_{upload_id}-current_step": "upload", "upload-file": file})


def test_a_large_admin_upload_shows_its_progress_in_the_admin_look(admin, acme_people, workday, settings):
    upload_id, uploaded = queued_admin_upload(admin, acme_people, workday, settings)
    progress_url = reverse("admin:timesheets_entry_bulkupload_progress", args=[upload_id])

    assert admin.get(uploaded["Location"])["Location"] == progress_url
    page = admin.get(progress_url).content.decode()
    assert CRUMB in page and "Waiting for a worker" in page

    background.run_staging(upload_id, sheet=None, positions=None)

    assert admin.get(progress_url)["Location"] == reverse("admin:timesheets_entry_bulkupload_wizard", args=[upload_id, "preview"])


def test_trying_again_on_the_admin_progress_page_releases_stalled_work_into_the_admin_wizard(admin, acme_people, workday, settings):
    upload_id, _uploaded = queued_admin_upload(admin, acme_people, workday, settings)
    worker_died(upload_id, phase="reading", silent_for=601)
    progress_url = reverse("admin:timesheets_entry_bulkupload_progress", args=[upload_id])

    response = admin.post(progress_url)

    assert response["Location"] == reverse("admin:timesheets_entry_bulkupload_wizard", args=[upload_id, "upload"])
    assert UploadBatch.objects.get(pk=upload_id).status == UploadBatch.Status.DRAFT


# --- tenant scope: staff see and touch only their own tenant's uploads and entries --------------------------------


def tenant_rows(tenant, day) -> list[list]:
    emails = list(Employee.objects.filter(tenant=tenant).order_by("pk").values_list("email", flat=True)[:2])
    code = Project.objects.filter(tenant=tenant, active=True).order_by("code").values_list("code", flat=True)[0]
    return [[email, day, code, 6, "yes", "Development", f"{tenant.name} work"] for email in emails]


def upload_as(username: str, rows) -> UploadBatch:
    user = get_user_model().objects.get(username=username)
    batch = services.create_batch(spec=get_spec(SPEC), user=user)
    services.stage_upload(batch=batch, upload=io.BytesIO(xlsx_file(rows)), name=f"{username}.xlsx")
    return services.apply_batch(batch_id=batch.pk)[0]


def tenant_staff(username: str, tenant) -> Client:
    """Staff of one tenant with every batch and entry permission the admin offers."""
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    Membership.objects.create(user=user, tenant=tenant)
    codenames = ["view_uploadbatch", "change_uploadbatch", "view_uploadrow", "view_entry", "add_entry", "change_entry", "delete_entry"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return login(username)


@pytest.fixture
def two_tenants(acme, globex, workday):
    """An applied upload in each tenant, and a staff member of each with all the permissions."""
    return {
        "acme_batch": upload_as("alice", tenant_rows(acme, workday)),
        "globex_batch": upload_as("bob", tenant_rows(globex, workday)),
        "acme_staff": tenant_staff("carol", acme),
        "globex_staff": tenant_staff("gus", globex),
    }


def test_staff_see_only_their_tenants_batches_and_rows(two_tenants):
    globex_batch, carol = two_tenants["globex_batch"], two_tenants["acme_staff"]

    batches = carol.get(BATCHES).content.decode()
    rows = carol.get(ROWS).content.decode()
    globex_rows = carol.get(ROWS, {"batch__id__exact": str(globex_batch.pk)}).content.decode()
    globex_page = carol.get(reverse("admin:bulkupload_uploadbatch_change", args=[globex_batch.pk]), follow=True)
    globex_row = carol.get(reverse("admin:bulkupload_uploadrow_change", args=[globex_batch.rows.first().pk]), follow=True)

    assert "alice.xlsx" in batches and "bob.xlsx" not in batches
    assert "Acme work" in rows and "Globex work" not in rows
    assert "Globex work" not in globex_rows and "0 upload rows" in globex_rows
    assert "doesn’t exist" in globex_page.content.decode() and "bob.xlsx" not in globex_page.content.decode()
    assert "doesn’t exist" in globex_row.content.decode() and "Globex work" not in globex_row.content.decode()
    assert "bob.xlsx" in two_tenants["globex_staff"].get(BATCHES).content.decode()


def test_staff_cannot_roll_back_another_tenants_batch(two_tenants, globex):
    globex_batch, carol = two_tenants["globex_batch"], two_tenants["acme_staff"]

    response = act(carol, BATCHES, "rollback_selected", [globex_batch])

    globex_batch.refresh_from_db()
    assert globex_batch.status == UploadBatch.Status.APPLIED
    assert Entry.objects.filter(tenant=globex).count() == 2
    page = carol.get(response["Location"]).content.decode()
    assert "1 selected batch was not found among the uploads you may see; nothing was done to it." in page


def test_staff_roll_back_their_own_tenants_batch_among_others(two_tenants, acme, globex):
    carol = two_tenants["acme_staff"]

    roll_back(carol, [two_tenants["acme_batch"], two_tenants["globex_batch"]])

    assert Entry.objects.filter(tenant=acme).count() == 0
    assert Entry.objects.filter(tenant=globex).count() == 2


def test_staff_see_and_export_only_their_tenants_entries(two_tenants, acme, globex):
    carol = two_tenants["acme_staff"]

    listing = carol.get(ENTRIES).content.decode()
    response = act(carol, ENTRIES, "export_selected_as_spreadsheet", Entry.objects.all())
    globex_entry = Entry.objects.filter(tenant=globex).first()
    change = carol.get(reverse("admin:timesheets_entry_change", args=[globex_entry.pk]), follow=True).content.decode()

    assert "Acme" in listing and "Globex" not in listing
    rows = list(load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0].iter_rows(values_only=True))[1:]
    assert sorted(row[-1] for row in rows) == ["Acme work", "Acme work"]
    assert "doesn’t exist" in change


def test_staff_cannot_move_an_entry_into_another_tenant(two_tenants, acme, globex):
    carol = two_tenants["acme_staff"]
    entry = Entry.objects.filter(tenant=acme).first()
    url = reverse("admin:timesheets_entry_change", args=[entry.pk])
    data = {
        "tenant": globex.pk,
        "employee": entry.employee_id,
        "project": entry.project_id,
        "date": entry.date.isoformat(),
        "hours": "6",
        "billable": "on",
        "activity": entry.activity,
        "note": "moved",
    }

    response = carol.post(url, data)

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    entry.refresh_from_db()
    assert entry.tenant == acme and entry.note == "Acme work"


def test_superusers_see_every_tenant(two_tenants, demo):
    everyone = login("admin")

    batches = everyone.get(BATCHES).content.decode()

    assert "alice.xlsx" in batches and "bob.xlsx" in batches


@pytest.mark.parametrize(
    "url,query",
    [
        (ROWS, "values__contains=x"),
        (ROWS, "errors__has_key=hours"),
        (ROWS, "changes__icontains=1"),
        (ROWS, "status__regex=(("),
        (ROWS, "batch__owner__password__startswith=md5"),
        (BATCHES, "headers__contains=Date"),
        (BATCHES, "owner__password__startswith=md5"),
        (BATCHES, "spec__iregex=[["),
    ],
)
def test_crafted_filter_lookups_are_refused_not_500(two_tenants, demo, url, query):
    for client in (login("admin"), two_tenants["acme_staff"]):
        response = client.get(f"{url}?{query}")

        assert response.status_code == 400, (query, response.status_code)


def test_the_offered_filters_still_work(two_tenants, demo):
    everyone = login("admin")
    acme_batch = two_tenants["acme_batch"]

    query = {"batch__id__exact": str(acme_batch.pk), "status__exact": "new", "outcome__exact": "created"}
    by_batch = everyone.get(ROWS, query).content.decode()
    applied = everyone.get(BATCHES, {"status__exact": "applied", "created_at__year": str(acme_batch.created_at.year)})

    assert "Acme work" in by_batch and "Globex work" not in by_batch
    assert applied.status_code == 200 and "bob.xlsx" in applied.content.decode()


# --- issue 14: the batch page, the columns step, the tenant, "my uploads" ---------------------------------------


def test_the_rollback_question_names_each_batch_with_a_link_to_its_receipt(admin, updated_batch):
    second, _before = updated_batch
    page = act(admin, BATCHES, "rollback_selected", [second]).content.decode()
    assert reverse("bulkupload:batch", kwargs={"batch_id": second.pk}) in page
    assert "1 created to delete, 1 updated to restore." in page
    assert 'name="force"' not in page  # nothing conflicts: nothing is forced


def test_the_batch_page_shows_no_internals_and_links_to_the_receipt(admin, acme_people, workday):
    batch = apply_rows(rows_for(acme_people, workday))
    UploadBatch.objects.filter(pk=batch.pk).update(file_size=12_345)
    page = admin.get(reverse("admin:bulkupload_uploadbatch_change", args=[batch.pk])).content.decode()

    assert batch.sha256 and batch.sha256 not in page
    assert "Scope key" not in page and "Sha256" not in page
    assert '{"' not in page and "employee_email" not in page  # no raw JSON of the headers
    assert "Employee email → Employee email" in page
    assert "12.1\xa0KB" in page and "12345" not in page  # the size with its unit
    assert reverse("bulkupload:batch", kwargs={"batch_id": batch.pk}) in page


def test_an_upload_at_the_columns_step_shows_as_such(admin, alice, acme_people, workday):
    from .helpers import Wizard, csv_file

    wizard = Wizard(alice).start()
    e, p = acme_people["emails"], acme_people["codes"]
    wizard.upload(csv_file([[e[0], workday, p[0], 2, "Meeting", ""]], header=["Mail", "Day", "Proj", "Hrs", "Activity", "x"]), "own.csv")
    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.DRAFT and batch.needs_columns

    listing = admin.get(BATCHES).content.decode()
    mine = alice.get(reverse("bulkupload:index")).content.decode()
    assert "Matching columns" in listing and '<td class="field-status_shown">Waiting for a file' not in listing
    assert "Matching columns" in mine and "Waiting for a file" not in mine


def test_the_admin_start_page_says_which_tenant_the_upload_goes_into(admin, acme):
    page = admin.get(UPLOAD).content.decode()
    assert "The upload goes into <strong>Acme</strong>" in page


def test_my_uploads_hides_uploads_without_a_file_and_discards_on_post_by_the_owner_only(alice, bob, acme_people, workday):
    from .helpers import Wizard

    empty = Wizard(alice).start()
    refused = Wizard(alice).start()
    refused.upload(b"not,a\nspreadsheet\x00\x01", "broken.xlsx")
    kept = Wizard(alice).start()
    kept.upload(xlsx_file(rows_for(acme_people, workday)), "march.xlsx")
    index = reverse("bulkupload:index")

    page = alice.get(index).content.decode()
    assert "<td>march.xlsx</td>" in page and "Waiting for a file" not in page and "Discard march.xlsx" in page
    discard = reverse("bulkupload:discard", kwargs={"batch_id": kept.upload_id})
    assert alice.get(discard).status_code == 405  # a GET (a prefetch, a crawler) never discards
    assert bob.post(discard).status_code == 404  # not his
    assert alice.post(discard).status_code == 302
    assert not UploadBatch.objects.filter(pk=kept.upload_id).exists()
    assert "<td>march.xlsx</td>" not in alice.get(index).content.decode()
    assert UploadBatch.objects.filter(pk__in=[empty.upload_id, refused.upload_id]).count() == 2  # hidden, purged later


def test_an_applied_upload_cannot_be_discarded(alice, acme_people, workday):
    batch = apply_rows(rows_for(acme_people, workday))
    response = alice.post(reverse("bulkupload:discard", kwargs={"batch_id": batch.pk}))
    assert response.status_code == 302
    assert UploadBatch.objects.filter(pk=batch.pk, status=UploadBatch.Status.APPLIED).exists()


def test_the_receipt_shows_the_values_as_the_preview_read_them(alice, acme_people, workday):
    from .helpers import Wizard, csv_file

    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(alice).start()
    wizard.run(csv_file([[e[0], workday.strftime("%d.%m.%Y"), p[0].lower(), "7,5", "yes", "Development", "x"]]), "de.csv")
    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.APPLIED and batch.created_count == 1

    page = alice.get(reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})).content.decode()
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert p[0] in cells and p[0].lower() not in cells  # the project as it is named, not as typed
    assert "7.5" in cells and "7,5" not in cells  # the number in the page's locale (en)
    assert workday.strftime("%d.%m.%Y") not in cells


def test_after_a_rollback_the_receipt_says_its_counts_are_history(alice, acme_people, workday):
    batch = apply_rows(rows_for(acme_people, workday))
    services.rollback_batch(batch_id=batch.pk)
    page = alice.get(reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})).content.decode()
    assert "This upload was rolled back on" in page
    assert "the 3 entries it created were deleted" in page
    assert "What the upload did before it was rolled back" in page
    assert 'aria-label="Outcome before the rollback"' in page
