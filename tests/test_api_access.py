"""Who may call the API: a login on every endpoint (401 without), CSRF for session logins, and ids that are not yours 404."""

from __future__ import annotations

import re

import pytest
import requests
from django.contrib.auth import get_user_model
from django.urls import URLPattern

from bulkupload.api import urls as api_urls
from bulkupload.models import UploadBatch
from project.timesheets.models import Entry, Membership

from .api_support import PREFIX, SPEC, Api, entries_csv, token_for

#: Path parameters a test fills in, by name.
IDS = ("upload_id", "batch_id")


def routes() -> list[tuple[str, str, str]]:
    """(method, route, url name) for every method every API endpoint handles; OPTIONS is refused everywhere (405)."""
    found = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.cls
        for method in ("get", "post", "patch", "put", "delete"):
            if hasattr(view, method):
                found.append((method.upper(), str(pattern.pattern), pattern.name))
    return found


def fill(route: str, *, upload_id: str, spec: str = SPEC, number: int = 2) -> str:
    path = route.replace("<str:upload_id>", upload_id).replace("<str:batch_id>", upload_id)
    return path.replace("<str:spec>", spec).replace("<str:number>", str(number))


BODIES = {
    "rows": None,
    "row": {"values": {"note": "x"}, "version": 0},
    "columns": {"mapping": {}},
    "values": {"values": {"project_code": {"P-999": "P-001"}}},
    "confirm": {"skip_invalid": True},
    "rollback": {"force": True},
}


@pytest.fixture
def alices_upload(live_server, demo, acme_people, workday) -> dict:
    return Api(live_server.url, token_for("alice")).upload(entries_csv(acme_people, workday)).json()


@pytest.mark.parametrize(("method", "route", "name"), [r for r in routes() if any(f"<str:{i}>" in r[1] for i in IDS)])
def test_another_users_ids_answer_404_for_every_path_and_method(live_server, alices_upload, method, route, name):
    bob = Api(live_server.url, token_for("bob"))
    response = bob.request(method, fill(route, upload_id=alices_upload["id"]), json=BODIES.get(name))
    assert response.status_code == 404, (method, route, response.text)
    assert alices_upload["id"] not in response.text
    batch = UploadBatch.objects.get(pk=alices_upload["id"])
    assert (batch.status, batch.invalid_count) == (UploadBatch.Status.READY, 1)  # untouched
    assert not Entry.objects.exists()


@pytest.mark.parametrize(("method", "route", "name"), routes())
def test_no_login_answers_401_on_every_endpoint(live_server, alices_upload, method, route, name):
    for api in (Api(live_server.url), Api(live_server.url, "not-a-token")):
        response = api.request(method, fill(route, upload_id=alices_upload["id"]), json=BODIES.get(name))
        assert response.status_code == 401, (method, route, response.status_code)
        assert response.headers["WWW-Authenticate"] == "Token"
    assert not Entry.objects.exists()


def test_options_reveals_nothing(live_server, alices_upload):
    response = Api(live_server.url, token_for("bob")).request("OPTIONS", f"uploads/{alices_upload['id']}/")
    assert response.status_code == 405


def test_a_user_without_a_tenant_sees_no_spec_and_cannot_upload(live_server, demo, acme_people, workday):
    get_user_model().objects.create_user("drifter", password="x")
    api = Api(live_server.url, token_for("drifter"))
    assert api.get("specs/").json() == []
    assert api.get(f"specs/{SPEC}/template.xlsx").status_code == 404
    assert api.upload(entries_csv(acme_people, workday)).status_code == 404
    assert api.get("specs/no-such-spec/template.xlsx").status_code == 404
    assert not UploadBatch.objects.exists()


def test_own_upload_from_a_tenant_since_left_answers_403_saying_why(live_server, alices_upload, globex):
    Membership.objects.filter(user__username="alice").update(tenant=globex)
    response = Api(live_server.url, token_for("alice")).get(f"uploads/{alices_upload['id']}/")
    assert response.status_code == 403
    assert "organisation you no longer have access to" in response.json()["detail"]


def session_login(base: str, username: str) -> requests.Session:
    """Log in through the site's login page, as a browser would: a real session cookie and a CSRF token."""
    http = requests.Session()
    page = http.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = http.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": "bulkupload-demo", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    assert done.status_code == 302, done.text[:500]
    return http


def test_session_login_needs_the_csrf_token_to_write(live_server, demo, acme, acme_people, workday):
    base = live_server.url
    http = session_login(base, "alice")
    assert http.get(f"{base}{PREFIX}specs/", timeout=30).status_code == 200  # reading needs no token
    files = {"file": ("entries.csv", entries_csv(acme_people, workday, bad_project=False))}
    refused = http.post(f"{base}{PREFIX}specs/{SPEC}/uploads/", files=files, timeout=30)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not UploadBatch.objects.exists()

    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Referer": base + "/"}
    created = http.post(f"{base}{PREFIX}specs/{SPEC}/uploads/", files=files, headers=csrf, timeout=30)
    assert created.status_code == 201, created.text
    confirm = f"{base}{PREFIX}uploads/{created.json()['id']}/confirm/"
    assert http.post(confirm, json={}, timeout=30).status_code == 403
    assert not Entry.objects.exists()
    assert http.post(confirm, json={}, headers=csrf, timeout=30).json()["applied"] is True
    assert Entry.objects.filter(tenant=acme).count() == 3
    http.close()
