"""Reads that several views share: whose uploads, which specs, which scope."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from .models import UploadBatch
from .spec import UploadSpec, all_specs, get_spec, get_spec_or_404


def may_upload(spec: UploadSpec, user: Any) -> bool:
    """Whether ``user`` may upload into ``spec``: they have the permissions it asks and a scope there."""
    return bool(spec.has_permission(user) and spec.get_scope(user) is not None)


def specs_for(user: Any) -> list[UploadSpec]:
    """Specs the user may upload into (:func:`may_upload`)."""
    return [spec for spec in all_specs() if may_upload(spec, user)]


def scope_or_404(spec: UploadSpec, user: Any) -> Any:
    """The user's scope in ``spec``: 404 without one; 403 saying why without the permissions uploading needs."""
    scope = spec.get_scope(user)
    if scope is None:
        raise Http404("No access to this upload type.")
    if not spec.has_permission(user):
        raise PermissionDenied(spec.permission_denied_message())
    return scope


def user_batches(user: Any) -> QuerySet[UploadBatch]:
    return UploadBatch.objects.filter(owner=user).order_by("-created_at")


def batch_for_user_or_404(user: Any, batch_id: Any, *, spec: UploadSpec | None = None) -> UploadBatch:
    """The user's own upload in their current scope.

    Another user's id answers 404 (ids that are not yours do not exist). The
    user's own upload made in a scope they no longer have (they left the tenant)
    answers 403, saying so: it exists, and they should know why it is closed to them.
    """
    try:
        batch_id = uuid.UUID(str(batch_id))
    except ValueError:
        raise Http404("No such upload.") from None
    batch = user_batches(user).filter(pk=batch_id).first()
    if batch is None or (spec is not None and batch.spec != spec.slug):
        raise Http404("No such upload.")
    try:
        batch_spec = spec or get_spec(batch.spec)
    except KeyError:
        raise Http404("No such upload type.") from None
    scope = batch_spec.get_scope(user)
    if scope is None or batch_spec.scope_key(scope) != batch.scope_key:
        raise PermissionDenied(_("This upload was made for an organisation you no longer have access to."))
    return batch


def batch_to_roll_back_or_404(user: Any, batch_id: Any) -> UploadBatch:
    """The user's own upload (:func:`batch_for_user_or_404`) that they may roll back.

    Rolling back writes the records again, so it needs the permissions uploading
    needs: an uploader who lost them gets 403 saying why.
    """
    batch = batch_for_user_or_404(user, batch_id)
    if not get_spec_or_404(batch.spec).has_permission(user):
        raise PermissionDenied(_("You may no longer upload these records, so you cannot roll this upload back."))
    return batch
