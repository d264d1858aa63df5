"""A confirm over several chunks: each row's outcome and record are its own, whichever chunk it fell in.

The confirm reads the next chunk and decodes it on a helper thread while the current one is written; a row must
never be written with another row's values, or be told another row's record.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Employee, Entry, Project

from .helpers import Wizard, xlsx_file

Outcome = UploadRow.Outcome


def test_each_row_of_a_confirm_over_several_chunks_names_the_entry_it_wrote(alice, acme, acme_people, workday, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "CHUNK_SIZE": 3}
    e, p = acme_people["emails"], acme_people["codes"]
    day = datetime.timedelta(days=1)
    rows = [[e[i % 3], workday - i // 3 * day, p[i % 2], str(1 + i), "yes", "Development", f"row {i}"] for i in range(10)]
    # Row 7, in the third chunk, matches an entry that exists: it is updated, and the other nine are created.
    employee = Employee.objects.get(tenant=acme, email=rows[7][0])
    project = Project.objects.get(tenant=acme, code=rows[7][2])
    kept = Entry.objects.create(tenant=acme, employee=employee, date=rows[7][1], project=project, hours=Decimal("9"), activity="Admin")
    wizard = Wizard(alice).start()
    assert wizard.upload(xlsx_file(rows))["Location"].endswith("/preview/")
    assert wizard.to_confirm()["Location"].endswith("/confirm/")

    wizard.confirm()

    batch = wizard.batch()
    assert (batch.status, batch.created_count, batch.updated_count) == (UploadBatch.Status.APPLIED, 9, 1)
    written = list(UploadRow.objects.filter(batch=batch).order_by("row_number"))
    assert len(written) == 10
    for row in written:
        entry = Entry.objects.get(pk=row.target_pk)
        assert (entry.note, entry.hours) == (row.values["note"], Decimal(row.values["hours"]))
        assert row.outcome == (Outcome.UPDATED if entry.pk == kept.pk else Outcome.CREATED)
    assert Entry.objects.filter(tenant=acme).count() == 10
