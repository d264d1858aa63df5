"""The progress page's estimate of the time left: offered only once the pace is known, then at that pace."""

from __future__ import annotations

import time

from django.urls import reverse

from bulkupload import compat, progress
from bulkupload.models import UploadBatch

from .helpers import Wizard, xlsx_file

DUMMY = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}


def test_the_estimate_waits_for_a_known_pace_and_then_follows_it():
    start = 1_000.0
    early = progress.Snapshot(phase="reading", done=50, total=1000, started=start)
    assert early.remaining_seconds(now=start + 30) is None  # 5 % done: too soon to say
    soon = progress.Snapshot(phase="reading", done=500, total=1000, started=start)
    assert soon.remaining_seconds(now=start + 1) is None  # a second in: too soon to say
    assert soon.remaining_seconds(now=start + 10) == 10  # half done in 10 s: about 10 s left
    assert progress.Snapshot(phase="reading", done=900, total=1000, started=start).remaining_seconds(now=start + 90) == 10
    assert progress.Snapshot(phase="reading", done=1200, total=1000, started=start).percent == 99  # a line count is a guess


def test_the_progress_page_says_about_how_long_is_left(alice, acme_people, workday, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 5}
    settings.TASKS = DUMMY  # the task waits: the test reports its progress as a worker would
    e, p = acme_people["emails"], acme_people["codes"]
    wizard = Wizard(alice).start()
    wizard.upload(xlsx_file([[e[n % 3], workday, p[n % 2], 1, "no", "Meeting", str(n)] for n in range(10)]))
    batch = wizard.batch()
    assert batch.status == UploadBatch.Status.STAGING
    url = reverse("bulkupload:progress", kwargs={"batch_id": batch.pk})

    progress.file_listener(batch.pk)(progress.Snapshot(phase="reading", done=300, total=600, started=time.time() - 120))
    status = alice.get(url, {"format": "json"}).json()
    assert status["text"].startswith("300 of 600 rows · about 2 minutes left")
    assert "about 2 minutes left" in alice.get(url).content.decode()
