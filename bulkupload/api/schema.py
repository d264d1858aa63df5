"""How each endpoint is described in the OpenAPI schema: its answer, and the error answers every endpoint shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from . import serializers as s

#: The template's answer: an .xlsx workbook.
XLSX_RESPONSE = object()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


#: Path parameters as the views read them (the URLs match any text, so that a malformed id answers JSON).
PATH_PARAMETERS = {
    "spec": OpenApiParameter("spec", OpenApiTypes.STR, OpenApiParameter.PATH, description="The spec's slug."),
    "upload_id": OpenApiParameter("upload_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
    "batch_id": OpenApiParameter("batch_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
    "number": OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH, description="The row's number in the file."),
}


def document(
    answer: Any,
    *,
    request: Any = None,
    parameters: list | None = None,
    conflict: bool = False,
    extra: dict[int, Any] | None = None,
    ok: int = 200,
    summary: str | None = None,
) -> Callable:
    """``extend_schema`` with ``answer`` as the success and the API's common errors (400, 401, 403, 404; 409 with ``conflict``)."""
    responses: dict[Any, Any] = {
        400: OpenApiResponse(s.ErrorsOut, description="The request, or the file, cannot be accepted: each error says what and where."),
        401: OpenApiResponse(s.DetailOut, description="Not authenticated."),
        403: OpenApiResponse(s.DetailOut, description="Not allowed (or the session's CSRF token is missing)."),
        404: OpenApiResponse(s.DetailOut, description="No such spec, upload, batch, row or page among yours."),
    }
    if answer is XLSX_RESPONSE:
        responses[(200, XLSX)] = OpenApiResponse(OpenApiTypes.BINARY, description="The template workbook.")
        for code in (400, 401, 403, 404):
            responses[(code, "application/json")] = responses.pop(code)
    else:
        responses[ok] = answer
    if conflict:
        responses[409] = OpenApiResponse(s.ConflictOut, description="The upload's state refuses this request; ``code`` says why.")
    if request is not None:
        responses[415] = OpenApiResponse(s.DetailOut, description="Unsupported content type.")
    if ok == 201 or request is s.ConfirmIn:
        responses[503] = OpenApiResponse(s.DetailOut, description="The database failed part-way; nothing was saved.")
    responses.update(extra or {})

    def decorator(method: Callable) -> Callable:
        names = method.__code__.co_varnames[: method.__code__.co_argcount]
        path = [PATH_PARAMETERS[name] for name in names if name in PATH_PARAMETERS]
        describe = extend_schema(request=request, responses=responses, parameters=path + (parameters or []), summary=summary)
        # extend_schema builds on the method's own schema class when it has one, else on REST framework's
        # DEFAULT_SCHEMA_CLASS: naming drf-spectacular's here spares hosts that setting.
        method.schema = AutoSchema  # type: ignore[attr-defined]
        return describe(method)

    return decorator


def hidden(method: Callable) -> Callable:
    """Leave ``method`` out of the schema (the schema and docs pages themselves)."""
    method.schema = AutoSchema  # type: ignore[attr-defined]
    return extend_schema(exclude=True)(method)
