"""Every URL of the engine, tried by the wrong people: other users' and other tenants' ids answer 404,
anonymous users are sent to log in, and a POST without a CSRF token is refused before it changes anything.

The URLs come from ``bulkupload.urls`` itself (every wizard step of ``views.STEPS``, every method a view
handles), so a view added later is covered without touching this file.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, reverse

from bulkupload import urls as engine_urls
from bulkupload.models import UploadBatch
from bulkupload.views import STEPS
from project.timesheets.models import Entry, Membership, Tenant

from .conftest import login
from .helpers import SPEC, Wizard, xlsx_file

ID_KWARGS = ("upload_id", "batch_id")


def methods(pattern: URLPattern) -> list[str]:
    view = pattern.callback.view_class
    return [m for m in ("get", "post") if hasattr(view, m)]


def url_cases() -> list[tuple[str, dict, str]]:
    """``(url name, kwargs without ids, method)`` for every URL of the engine."""
    cases = []
    for pattern in engine_urls.urlpatterns:
        converters = pattern.pattern.converters
        steps = [{"step": step} for step in STEPS] if "step" in converters else [{}]
        for extra in steps:
            kwargs = {"spec": SPEC, **extra} if "spec" in converters else dict(extra)
            id_key = next((k for k in ID_KWARGS if k in converters), None)
            for method in methods(pattern):
                cases.append((f"bulkupload:{pattern.name}", {**kwargs, "_id": id_key}, method))
    return cases


CASES = url_cases()
WITH_IDS = [case for case in CASES if case[1]["_id"]]


def case_id(case: tuple[str, dict, str]) -> str:
    name, kwargs, method = case
    return f"{method.upper()} {name}{'/' + kwargs['step'] if 'step' in kwargs else ''}"


def url_for(name: str, kwargs: dict, target_id) -> str:
    kwargs = dict(kwargs)
    id_key = kwargs.pop("_id")
    if id_key:
        kwargs[id_key] = target_id
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def alices_uploads(alice, acme_people, workday) -> dict[str, UploadBatch]:
    """Alice's uploads in each state an intruder might aim at."""
    e, p = acme_people["emails"], acme_people["codes"]
    content = xlsx_file([[e[0], workday, p[0], 1, "no", "Admin", "mine"]])
    draft = Wizard(alice).start()
    ready = Wizard(alice).start()
    ready.upload(content)
    applied = Wizard(alice).start()
    applied.run(content)
    return {"draft": draft.batch(), "ready": ready.batch(), "applied": applied.batch()}


@pytest.fixture
def carol(acme):
    """Alice's colleague: same tenant, another user."""
    colleague = get_user_model().objects.create_user("carol", password="x")
    acme.memberships.create(user=colleague)
    return login("carol")


def test_every_engine_url_is_covered():
    names = {f"bulkupload:{p.name}" for p in engine_urls.urlpatterns}
    assert names == {name for name, _kwargs, _method in CASES}
    assert {f"bulkupload:{p.name}" for p in engine_urls.urlpatterns if set(p.pattern.converters) & set(ID_KWARGS)} <= {
        name for name, _k, _m in WITH_IDS
    }


@pytest.mark.parametrize("case", WITH_IDS, ids=case_id)
def test_ids_that_are_not_yours_answer_404(case, alices_uploads, bob, carol, acme):
    name, kwargs, method = case
    entries = Entry.objects.filter(tenant=acme).count()
    for intruder in (bob, carol):  # another tenant; the same tenant but another user
        for state, batch in alices_uploads.items():
            url = url_for(name, kwargs, batch.pk)
            response = getattr(intruder, method)(url, {"force": "1", "upload-file": "", "confirm-overwrite": "on"})
            assert response.status_code == 404, (state, url, response.status_code)
    assert {b.pk: b.status for b in UploadBatch.objects.filter(pk__in=[b.pk for b in alices_uploads.values()])} == {
        b.pk: b.status for b in alices_uploads.values()
    }
    assert Entry.objects.filter(tenant=acme).count() == entries


@pytest.mark.parametrize("moved_to", [None, "Globex"])
def test_an_upload_from_a_tenant_the_user_left_is_closed_and_says_why(alices_uploads, alice, acme, moved_to):
    alice_user = get_user_model().objects.get(username="alice")
    entries = Entry.objects.filter(tenant=acme).count()
    Membership.objects.filter(user=alice_user).delete()
    if moved_to:
        Tenant.objects.get(name=moved_to).memberships.create(user=alice_user)
    applied = alices_uploads["applied"]

    receipt = alice.get(reverse("bulkupload:batch", kwargs={"batch_id": applied.pk}))
    rollback = alice.post(reverse("bulkupload:rollback", kwargs={"batch_id": applied.pk}), {"force": "1"})

    assert receipt.status_code == rollback.status_code == 403
    assert "This upload was made for an organisation you no longer have access to." in receipt.content.decode()
    assert UploadBatch.objects.get(pk=applied.pk).status == UploadBatch.Status.APPLIED
    assert Entry.objects.filter(tenant=acme).count() == entries


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_anonymous_users_are_sent_to_log_in(case, alices_uploads):
    name, kwargs, method = case
    url = url_for(name, kwargs, alices_uploads["ready"].pk)
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("case", [c for c in CASES if c[2] == "post"], ids=case_id)
def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(case, alices_uploads, acme):
    name, kwargs, _method = case
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="alice"))
    before = dict(UploadBatch.objects.values_list("pk", "status"))
    entries = Entry.objects.filter(tenant=acme).count()
    for batch in alices_uploads.values():
        response = client.post(url_for(name, kwargs, batch.pk), {"force": "1", "confirm-overwrite": "on", "confirm-skip_invalid": "on"})
        assert response.status_code == 403
    assert dict(UploadBatch.objects.values_list("pk", "status")) == before
    assert Entry.objects.filter(tenant=acme).count() == entries


@pytest.mark.parametrize("name", ["home", "entries"])
def test_the_host_pages_need_a_login_too(name, demo):
    response = Client().get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def admin_upload_cases() -> list[tuple[str, dict, str]]:
    """The upload pages a host's ModelAdmin adds (the demo's Entry admin), with upload ids."""
    from django.contrib import admin

    cases = []
    for model_admin in admin.site._registry.values():
        if not hasattr(model_admin, "upload_url_name"):
            continue
        for pattern in model_admin.get_urls():
            if "bulkupload" not in (pattern.name or "") or "upload_id" not in pattern.pattern.converters:
                continue
            steps = [{"step": step} for step in STEPS] if "step" in pattern.pattern.converters else [{}]
            for extra in steps:
                for method in methods(pattern):
                    cases.append((f"admin:{pattern.name}", {**extra, "_id": "upload_id"}, method))
    return cases


ADMIN_CASES = admin_upload_cases()


@pytest.fixture
def staff_intruders(acme, globex):
    """Staff who may upload entries in the admin: one of another tenant, one of Alice's tenant."""
    from django.contrib.auth.models import Permission

    perms = Permission.objects.filter(content_type__app_label="timesheets", codename__in=["add_entry", "change_entry", "view_entry"])
    clients = []
    for username, tenant in (("greta", globex), ("carl", acme)):
        user = get_user_model().objects.create_user(username, password="x", is_staff=True)
        user.user_permissions.set(perms)
        tenant.memberships.create(user=user)
        clients.append(login(username))
    return clients


@pytest.mark.parametrize("case", ADMIN_CASES, ids=case_id)
def test_admin_upload_pages_answer_404_for_ids_that_are_not_yours(case, alices_uploads, staff_intruders):
    name, kwargs, method = case
    for intruder in staff_intruders:
        for state, batch in alices_uploads.items():
            response = getattr(intruder, method)(url_for(name, kwargs, batch.pk))
            assert response.status_code == 404, (state, name, response.status_code)


def test_the_admin_upload_pages_are_covered():
    assert ADMIN_CASES, "the demo's Entry admin should add upload pages"
