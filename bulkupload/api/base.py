"""What every endpoint shares: authentication, permissions, error shapes, the schema class."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import FileRejected


class ApiView(APIView):
    """An endpoint: token or session authentication (the session with CSRF), a login required, JSON only."""

    # Token first: an unauthenticated request answers 401 with ``WWW-Authenticate: Token``.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    # No OPTIONS metadata: every method either checks the user and the id, or is not allowed (405).
    metadata_class = None
    schema = AutoSchema()

    @classmethod
    def as_view(cls, **initkwargs: Any):
        view = super().as_view(**initkwargs)
        # The API authenticates itself and answers 401/403; a login redirect (LoginRequiredMiddleware) would be wrong here.
        view.login_required = False
        return view

    def get_exception_handler(self):
        return exception_handler


class XlsxRenderer(BaseRenderer):
    """Lets a client ask for the template with ``Accept: application/vnd…sheet``; errors still come as JSON."""

    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else json.dumps(data).encode()


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; a request the API cannot accept answers ``{"errors": [{code, message, field, …}]}`` (400)."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        response.data = {"errors": list(_flatten(exc.detail))}
        response.status_code = status.HTTP_400_BAD_REQUEST
    return response


def _flatten(detail: Any, field: str | None = None) -> Iterator[dict[str, Any]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = field if key == "non_field_errors" else f"{field}.{key}" if field else str(key)
            yield from _flatten(value, name)
    elif isinstance(detail, list):
        for item in detail:
            yield from _flatten(item, field)
    else:
        code = getattr(detail, "code", None) or "invalid"
        yield {"code": str(code), "message": str(detail), "field": field, "sheet": None, "row": None, "column": None}


def file_errors(exc: FileRejected, *, code: str | None = None) -> Response:
    """400 for a file (or column choice) the engine refused, saying what is wrong and where."""
    error = {
        "code": code or getattr(exc, "code", "file_rejected"),
        "message": exc.message,
        "file": exc.file,
        "sheet": exc.sheet,
        "row": exc.row,
        "column": exc.column,
    }
    return Response({"errors": [error]}, status=status.HTTP_400_BAD_REQUEST)


def conflict(message: str, code: str, **extra: Any) -> Response:
    """409: the request is understood but the upload's state refuses it; ``code`` says why."""
    return Response({"detail": message, "code": code, **extra}, status=status.HTTP_409_CONFLICT)
