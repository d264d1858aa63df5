"""Which tenant an upload lands in is said where it could be unclear: to staff (admins see several tenants), not to members."""

from __future__ import annotations

import pytest
from django.urls import reverse

from .conftest import login

pytestmark = pytest.mark.django_db


def test_a_member_is_not_told_the_tenant_the_header_already_names(demo):
    content = login("alice").get(reverse("bulkupload:index")).content.decode()
    assert "Timesheet entries" in content
    assert "data-scope" not in content


def test_a_superuser_is_told_which_tenant_the_uploads_go_into(demo):
    content = login("admin").get(reverse("bulkupload:index")).content.decode()
    assert "Your uploads go into <strong>Acme</strong>." in content
