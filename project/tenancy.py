"""Which tenant a user belongs to: one membership per user in this demo."""

from typing import Any

from django.http import HttpRequest


def tenant_for(user: Any):
    """The user's tenant, or None (anonymous, or no membership)."""
    if not getattr(user, "is_authenticated", False):
        return None
    from project.timesheets.models import Membership

    membership = Membership.objects.select_related("tenant").filter(user=user).first()
    return membership.tenant if membership else None


def tenant_context(request: HttpRequest) -> dict[str, Any]:
    return {"tenant": tenant_for(getattr(request, "user", None))}
