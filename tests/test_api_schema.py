"""The OpenAPI schema: valid OpenAPI 3, it describes every endpoint, and the API keeps to it.

schemathesis generates requests from the schema (property-based, a bounded number per operation, loopback only)
against a live server, with a real token; half the cases use a real upload's id, so the requests reach the
services and not only the 404 of an unknown id. No answer may be a 5xx or break the schema.
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from bulkupload.api import urls as api_urls

from .api_support import PREFIX, SPEC, Api, entries_csv, token_for

CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Cases per operation: enough to find a crash in each branch, small enough for a 2-core CI machine (more: API_FUZZ_EXAMPLES=500).
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))


def operations() -> list[tuple[str, str]]:
    """(method, OpenAPI path) for every endpoint the API's URLs declare (its schema and docs pages aside)."""
    found = []
    for pattern in api_urls.urlpatterns:
        if pattern.name in ("schema", "docs"):
            continue
        path = PREFIX + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        methods = [method for method in ("get", "post", "patch", "put", "delete") if hasattr(pattern.callback.cls, method)]
        found.extend((method.upper(), path) for method in methods)
    return found


@pytest.fixture
def api(live_server, demo) -> Api:
    return Api(live_server.url, token_for("alice"))


@pytest.fixture
def raw_schema(api) -> dict:
    response = api.get("schema/", params={"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_and_describes_every_endpoint(raw_schema, api):
    validate(raw_schema)  # raises on an invalid document
    described = {(method.upper(), path) for path, item in raw_schema["paths"].items() for method in item if method != "parameters"}
    assert described == set(operations())
    upload = raw_schema["components"]["schemas"]["UploadOut"]["properties"]
    assert set(upload) >= {"id", "spec", "file_name", "status", "counts", "progress", "batch"}
    statuses = raw_schema["components"]["schemas"]["UploadStatusEnum"]["enum"]
    assert statuses == ["working", "needs_columns", "ready", "applied", "rolled_back", "failed"]
    docs = api.get("docs/")
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()  # the sidecar's own static files, no network needed


@pytest.mark.parametrize(("method", "path"), operations())
def test_generated_requests_get_no_5xx_and_answers_that_keep_to_the_schema(api, raw_schema, method, path, acme_people, workday):
    schema = schemathesis.openapi.from_dict(raw_schema)
    operation = schema[path][method]
    real = api.upload(entries_csv(acme_people, workday)).json()
    headers = {"Authorization": f"Token {api.token}"}

    @given(case=operation.as_strategy(), use_real=st.booleans(), row=st.integers(min_value=1, max_value=5))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def probe(case, use_real: bool, row: int) -> None:
        if use_real:
            for name, value in (("upload_id", real["id"]), ("batch_id", real["id"]), ("spec", SPEC), ("number", row)):
                if name in (case.path_parameters or {}):
                    case.path_parameters[name] = value
        case.call_and_validate(base_url=api.base, headers=headers, checks=CHECKS, timeout=60)

    probe()
