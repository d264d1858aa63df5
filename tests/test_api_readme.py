"""The README's API walk-through, run as written (bash and curl) against a live server with alice's token."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bulkupload.models import UploadBatch
from project.timesheets.models import Entry

from .api_support import PREFIX, token_for

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough() -> str:
    """The bash block that follows the ``api-walkthrough`` marker in README.md."""
    found = re.search(r"<!-- api-walkthrough -->\s*```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert found, "README.md has no API walk-through"
    return found.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through needs curl")
def test_readme_curl_walkthrough_runs_as_written(live_server, demo, acme, tmp_path):
    env = {**os.environ, "BASE": live_server.url + PREFIX.rstrip("/"), "TOKEN": token_for("alice")}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "template.xlsx").read_bytes()[:2] == b"PK"
    assert '"status":"ready"' in done.stdout
    assert '{"text":"Besprechung","count":1,"suggestions":["Meeting"]' in done.stdout  # a question, then its answer
    assert '"chosen":"Meeting"' in done.stdout
    assert '"project_code":["Unknown project' in done.stdout  # the invalid row, with its error by column
    assert '"rolled_back":true' in done.stdout
    batch = UploadBatch.objects.get()
    assert (batch.status, batch.created_count) == (UploadBatch.Status.ROLLED_BACK, 2)
    assert batch.rows.get(row_number=3).values["activity"] == "Meeting"
    assert not Entry.objects.filter(tenant=acme).exists()
