"""Code that deleting once left the suite green (issue 13), each shown where a user meets it, over real requests.

- the reset of file-rule errors before the file rules run again (services);
- the detection of records a later batch stamped (rollback, applying);
- a header the user chose to ignore before (remembered mapping);
- an updated record's old date in the user's locale (preview).
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from bulkupload import spec
from bulkupload.models import RememberedMapping, UploadRow
from project.timesheets.models import Entry, Tenant

from .helpers import SPEC, Wizard, csv_file
from .test_rollback import apply_rows, first_and_second, snapshot  # noqa: F401 (a fixture)
from .test_rules import errors_by_row, fix_payload, people, row, upload  # noqa: F401 (a fixture)


def test_fixing_one_of_two_duplicate_rows_leaves_the_other_valid(alice, acme, people, workday):  # noqa: F811
    wizard = upload(alice, [row(people, workday, hours=2), row(people, workday, hours=3)])
    assert "Duplicate of row 3 (same key)." in wizard.preview().content.decode()
    invalid = list(UploadRow.objects.filter(batch_id=wizard.upload_id, status="invalid").order_by("row_number"))
    fix_url = reverse("bulkupload:fix", kwargs={"spec": wizard.spec, "upload_id": wizard.upload_id})

    # The browser posts both invalid rows of the page; only row 3 is changed (to the other project), so only it is written.
    response = alice.post(fix_url, fix_payload(wizard, invalid, {3: {"project_code": people["codes"][1]}}), follow=True)

    page = response.content.decode()
    assert "Saved 1 row(s). 0 invalid row(s) left." in page
    assert "Duplicate of row" not in page  # row 2's old duplicate message is gone with its cause
    assert errors_by_row(wizard) == {2: {}, 3: {}}
    wizard.to_confirm()
    wizard.confirm()
    assert sorted(Entry.objects.filter(tenant=acme).values_list("project__code", "hours")) == sorted(
        [(people["codes"][0], 2), (people["codes"][1], 3)]
    )


def test_rollback_refuses_a_record_a_later_upload_wrote_back_to_the_same_values(first_and_second, alice, acme_people, workday):  # noqa: F811
    """Only the batch stamp shows it: a third upload changed the entry, a fourth wrote the second's values back."""
    _first, second, _before = first_and_second
    e, p = acme_people["emails"], acme_people["codes"]
    apply_rows([[e[0], workday, p[0], 3, "no", "Design", "Third"]])
    fourth = apply_rows([[e[0], workday, p[0], 6, "no", "Design", "Changed"]])  # exactly what the second upload wrote
    after = snapshot()
    assert Entry.objects.get(employee__email=e[0], project__code=p[0]).upload_batch_id == fourth.pk

    refused = alice.post(reverse("bulkupload:rollback", kwargs={"batch_id": second.pk}))

    assert refused.status_code == 200
    assert "Row 2 was changed after this upload; rolling back would overwrite that change." in refused.content.decode()
    assert snapshot() == after  # the fourth upload's entry is untouched, and so is everything else
    second.refresh_from_db()
    assert second.status == second.Status.APPLIED


IGNORING = ["E-mail", "Date", "Proj", "Hrs", "Billable", "Activity", "Notes"]  # "Notes" is close to the column "Note"


def shown_choices(response) -> dict[str, str]:
    form = response.context["wizard"]["form"]
    return {s.header: form[f"col_{s.index}"].value() for s in form.suggestions}


def test_a_header_ignored_before_is_proposed_as_ignored_again(alice, acme, acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    lines = [[e[0], workday, p[0], 7.5, "yes", "Development", "internal: billed twice?"]]
    first = Wizard(alice).start()
    first.upload(csv_file(lines, header=IGNORING), "march.csv")
    assert shown_choices(alice.get(first.url("columns")))["Notes"] == "note"  # the close match is proposed
    chosen = {0: "employee_email", 1: "date", 2: "project_code", 3: "hours", 4: "billable", 5: "activity", 6: ""}
    response = first.post_step("columns", {f"columns-col_{i}": key for i, key in chosen.items()})
    assert response["Location"].endswith("/preview/")
    assert RememberedMapping.objects.get(spec=SPEC).choices["notes"] == ""

    second = Wizard(alice).start()
    response = second.upload(csv_file(lines, header=IGNORING), "april.csv")
    assert response["Location"].endswith("/columns/")
    page = alice.get(response["Location"])
    assert shown_choices(page) == {h: chosen[i] for i, h in enumerate(IGNORING)}  # "Notes" stays ignored

    # Accepting what the page proposes keeps the notes out of the entries, as the user said last time.
    form = page.context["wizard"]["form"]
    second.post_step("columns", {f"columns-col_{s.index}": form[f"col_{s.index}"].value() or "" for s in form.suggestions})
    second.to_confirm()
    second.confirm()
    assert Entry.objects.get(tenant=acme).note == ""


class TenantLockDates(spec.ModelUploadSpec):
    """A date that is not part of the key, so an update shows the old date beside the new one."""

    slug = "tenant-lock-dates"
    model = Tenant
    fields = ("name", "lock_date")
    natural_key = ("name",)
    import_mode = "update"


@pytest.fixture
def lock_dates(db):
    spec.register(TenantLockDates)
    yield TenantLockDates
    spec.unregister(TenantLockDates)


@pytest.mark.parametrize(("language", "old", "new"), [("de", "31.03.2026", "30.06.2026"), ("en", "03/31/2026", "06/30/2026")])
def test_the_preview_shows_an_updated_records_old_date_in_the_users_locale(lock_dates, acme, language, old, new):
    Tenant.objects.filter(pk=acme.pk).update(lock_date=datetime.date(2026, 3, 31))
    user = get_user_model().objects.create_user("lena", password="x")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="timesheets", codename__in=["add_tenant", "change_tenant"]))
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    wizard = Wizard(client, spec="tenant-lock-dates").start()
    assert wizard.upload(csv_file([["Acme", "2026-06-30"]], ["Name", "Lock date"]), "locks.csv")["Location"].endswith("/preview/")

    page = wizard.preview().content.decode()

    changed = re.search(r"<del>(.*?)</del>\s*→\s*<ins>(.*?)</ins>", page)
    assert changed, "the preview shows no old → new value"
    assert changed.groups() == (old, new)
