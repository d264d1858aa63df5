"""Support for the API tests: a client over real HTTP (requests), tokens, and the demo's rows as files."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from .helpers import csv_file

PREFIX = "/uploads/api/v1/"
SPEC = "timesheet-entries"


def token_for(username: str) -> str:
    user = get_user_model().objects.get(username=username)
    return Token.objects.get_or_create(user=user)[0].key


@dataclass
class Api:
    """Calls to the API under ``base`` (a live server's URL), each one HTTP request, authenticated by ``token``."""

    base: str
    token: str | None = None
    timeout: float = 60

    def url(self, path: str) -> str:
        return self.base.rstrip("/") + PREFIX + path.lstrip("/")

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        """One call on a connection of its own, closed after it: a kept-alive socket would keep the live server's
        request thread, and its database connection, open past the test."""
        auth = {"Authorization": f"Token {self.token}"} if self.token else {}
        with requests.Session() as http:
            return http.request(method, self.url(path), headers={**auth, **(headers or {})}, timeout=self.timeout, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def upload(self, content: bytes, name: str = "entries.csv", **data) -> requests.Response:
        return self.post(f"specs/{SPEC}/uploads/", files={"file": (name, content)}, data=data)


def entry_rows(people: dict, day, *, bad_project: bool = True) -> list[list]:
    """Three rows for Acme; the second names a project that does not exist (unless ``bad_project`` is False)."""
    e, p = people["emails"], people["codes"]
    return [
        [e[0], day.isoformat(), p[0], "7.5", "yes", "Development", "Sprint work"],
        [e[1], day.isoformat(), "P-999" if bad_project else p[1], "4", "no", "Meeting", ""],
        [e[2], day.isoformat(), p[0], "8", "yes", "Support", "Hotline"],
    ]


def entries_csv(people: dict, day, **kwargs) -> bytes:
    return csv_file(entry_rows(people, day, **kwargs))
