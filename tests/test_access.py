"""Who may see what: logins, tenants, CSRF, and where uploaded files live."""

import os

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from bulkupload.models import UploadBatch

from .helpers import SPEC, Wizard, xlsx_file


def alice_upload(alice, acme_people, workday) -> Wizard:
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[e[0], workday, p[0], 1, "no", "Admin", ""]]))
    return wizard


def test_another_users_upload_and_batch_answer_404(alice, bob, acme_people, workday):
    wizard = alice_upload(alice, acme_people, workday)
    upload_id = wizard.upload_id
    for step in ("upload", "preview", "confirm"):
        assert bob.get(wizard.url(step)).status_code == 404
        assert bob.post(wizard.url(step), {f"{wizard.prefix}-current_step": step}).status_code == 404
    assert bob.post(reverse("bulkupload:fix", kwargs={"spec": SPEC, "upload_id": upload_id})).status_code == 404
    assert bob.get(reverse("bulkupload:batch", kwargs={"batch_id": upload_id})).status_code == 404
    assert bob.post(reverse("bulkupload:rollback", kwargs={"batch_id": upload_id})).status_code == 404
    assert wizard.batch().status == UploadBatch.Status.READY


def test_a_colleague_in_the_same_tenant_cannot_open_my_upload_either(alice, acme, acme_people, workday):
    wizard = alice_upload(alice, acme_people, workday)
    colleague = get_user_model().objects.create_user("carol", password="x")
    acme.memberships.create(user=colleague)
    client = Client()
    client.force_login(colleague)
    assert client.get(wizard.url("preview")).status_code == 404


def test_anonymous_users_are_sent_to_log_in(demo):
    client = Client()
    for url in (
        reverse("bulkupload:index"),
        reverse("bulkupload:start", kwargs={"spec": SPEC}),
        reverse("bulkupload:template", kwargs={"spec": SPEC}),
        reverse("entries"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_posts_without_a_csrf_token_are_refused(demo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="alice"))
    response = client.post(reverse("bulkupload:start", kwargs={"spec": SPEC}))
    assert response.status_code == 403
    assert not UploadBatch.objects.exists()


def test_a_user_without_a_tenant_can_upload_nothing(demo):
    loner = get_user_model().objects.create_user("loner", password="x")
    client = Client()
    client.force_login(loner)
    assert client.post(reverse("bulkupload:start", kwargs={"spec": SPEC})).status_code == 404
    assert client.get(reverse("bulkupload:template", kwargs={"spec": SPEC})).status_code == 404
    assert "There is nothing you can upload." in client.get(reverse("bulkupload:index")).content.decode()


def test_unknown_upload_ids_and_specs_answer_404(alice):
    wizard_url = reverse(
        "bulkupload:wizard",
        kwargs={
            "spec": SPEC,
            "upload_id": "00000000-0000-0000-0000-000000000000",
            "step": "upload",
        },
    )
    assert alice.get(wizard_url).status_code == 404
    assert alice.post(reverse("bulkupload:start", kwargs={"spec": "no-such-thing"})).status_code == 404


def test_uploaded_files_are_private_and_deleted_once_applied(
    alice, acme_people, workday, private_file_root, settings, django_capture_on_commit_callbacks
):
    wizard = alice_upload(alice, acme_people, workday)
    batch = wizard.batch()
    path = batch.source_file.path
    assert os.path.exists(path)
    assert path.startswith(str(private_file_root))
    assert not path.startswith(str(getattr(settings, "MEDIA_ROOT", "") or "/nonexistent"))
    wizard.to_confirm()
    with django_capture_on_commit_callbacks(execute=True):
        wizard.confirm()
    assert not os.path.exists(path)
