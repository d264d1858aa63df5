"""Which tenant a user belongs to: one membership per user in this demo."""

from typing import Any

from django.http import HttpRequest


def tenant_for(user: Any):
    """The user's tenant, or None (anonymous, or no membership).

    Looked up once per user object, as Django keeps a user's permissions (``_perm_cache``): a request's user, or a
    batch's owner as loaded with the batch, asks the database once however often the permission and scope are checked.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user._tenant_cache
    except AttributeError:
        pass
    from project.timesheets.models import Membership

    membership = Membership.objects.select_related("tenant").filter(user=user).first()
    user._tenant_cache = membership.tenant if membership else None
    return user._tenant_cache


def tenant_context(request: HttpRequest) -> dict[str, Any]:
    return {"tenant": tenant_for(getattr(request, "user", None))}
