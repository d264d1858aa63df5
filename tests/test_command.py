"""`manage.py bulkupload`: import (exit 0/1/2, dry run, summary line, progress), export and purge."""

from __future__ import annotations

import datetime
import io
import os
import pty
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from openpyxl import load_workbook

from bulkupload import services
from bulkupload.models import UploadBatch
from bulkupload.spec import get_spec
from project.timesheets.models import Entry

from .helpers import HEADER, SPEC, csv_file, xlsx_file


def rows_for(people, day, *, hours=(7.5, 4, 8)):
    e, p = people["emails"], people["codes"]
    return [
        [e[0], day, p[0], hours[0], "yes", "Development", "Sprint work"],
        [e[1], day, p[1], hours[1], "no", "Meeting", ""],
        [e[2], day, p[0], hours[2], "yes", "Support", "Hotline"],
    ]


def bulkupload(*args: str, stderr=None) -> tuple[str, str]:
    out, err = io.StringIO(), stderr or io.StringIO()
    call_command("bulkupload", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue() if isinstance(err, io.StringIO) else ""


def saved(tmp_path: Path, content: bytes, name: str = "entries.xlsx") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_import_applies_the_file_and_prints_one_summary_line(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, xlsx_file(rows_for(acme_people, workday)))

    out, err = bulkupload("import", SPEC, path, "--user", "alice")

    batch = UploadBatch.objects.get()
    assert out.splitlines() == [f"Applied upload {batch.pk}: 3 created, 0 updated, 0 unchanged, 0 skipped."]
    assert batch.status == UploadBatch.Status.APPLIED
    assert Entry.objects.filter(tenant=acme, upload_batch=batch).count() == 3
    # Not a terminal: plain progress lines, no carriage returns redrawing a bar.
    assert "\r" not in err
    assert "Reading and checking the rows:" in err and "Saving the rows: 100% 3/3 rows" in err


def test_import_of_a_csv_updates_existing_entries(acme, acme_people, workday, tmp_path):
    bulkupload("import", SPEC, saved(tmp_path, xlsx_file(rows_for(acme_people, workday))), "--user", "alice")
    changed = csv_file([[str(c) for c in row] for row in rows_for(acme_people, workday.isoformat(), hours=(6, 4, 8))])

    out, _err = bulkupload("import", SPEC, saved(tmp_path, changed, "again.csv"), "--user", "alice")

    assert out.strip().endswith(": 0 created, 1 updated, 2 unchanged, 0 skipped.")
    assert sorted(str(h) for h in Entry.objects.values_list("hours", flat=True)) == ["4.00", "6.00", "8.00"]


def test_no_overwrite_keeps_existing_entries(acme, acme_people, workday, tmp_path):
    bulkupload("import", SPEC, saved(tmp_path, xlsx_file(rows_for(acme_people, workday))), "--user", "alice")
    changed = saved(tmp_path, xlsx_file(rows_for(acme_people, workday, hours=(6, 4, 8))), "again.xlsx")

    out, _err = bulkupload("import", SPEC, changed, "--user", "alice", "--no-overwrite")

    assert out.strip().endswith(": 0 created, 0 updated, 2 unchanged, 1 skipped.")
    assert sorted(str(h) for h in Entry.objects.values_list("hours", flat=True)) == ["4.00", "7.50", "8.00"]


def test_dry_run_writes_nothing_to_the_entries(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, xlsx_file(rows_for(acme_people, workday)))

    out, _err = bulkupload("import", SPEC, path, "--user", "alice", "--dry-run")

    batch = UploadBatch.objects.get()
    assert out.splitlines() == [f"Dry run of upload {batch.pk}: 3 new, 0 to update, 0 unchanged, 0 invalid; nothing was written."]
    assert Entry.objects.count() == 0
    assert batch.status == UploadBatch.Status.READY  # can still be confirmed in the browser


def test_invalid_rows_exit_1_listing_the_first_errors_by_row_and_column(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, xlsx_file(rows_for(acme_people, workday, hours=(7.5, 4, 30))))
    err = io.StringIO()

    with pytest.raises(CommandError) as failure:
        bulkupload("import", SPEC, path, "--user", "alice", stderr=err)

    assert failure.value.returncode == 1
    assert "1 row is invalid, so nothing was imported" in str(failure.value)
    assert "Row 4, column “Hours”: Hours must be at most 24." in err.getvalue().splitlines()
    assert Entry.objects.count() == 0


def test_dry_run_with_invalid_rows_is_not_clean(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, xlsx_file(rows_for(acme_people, workday, hours=(7.5, 4, 30))))

    with pytest.raises(CommandError) as failure:
        bulkupload("import", SPEC, path, "--user", "alice", "--dry-run")

    assert failure.value.returncode == 1


def test_skip_invalid_imports_the_valid_rows(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, xlsx_file(rows_for(acme_people, workday, hours=(7.5, 4, 30))))

    out, _err = bulkupload("import", SPEC, path, "--user", "alice", "--skip-invalid")

    assert out.strip().endswith(": 2 created, 0 updated, 0 unchanged, 1 skipped.")
    assert Entry.objects.count() == 2


def test_an_unreadable_file_exits_2_and_leaves_no_upload(acme, tmp_path):
    path = saved(tmp_path, b"\x00\x01\x02 not a spreadsheet \x00" * 10, "broken.csv")

    with pytest.raises(CommandError) as failure:
        bulkupload("import", SPEC, path, "--user", "alice")

    assert failure.value.returncode == 2
    assert "broken.csv" in str(failure.value)
    assert UploadBatch.objects.count() == 0


def test_a_file_missing_its_required_columns_exits_2(acme, tmp_path):
    path = saved(tmp_path, xlsx_file([["x", "y"]], header=["Something", "Else"]))

    with pytest.raises(CommandError) as failure:
        bulkupload("import", SPEC, path, "--user", "alice")

    assert failure.value.returncode == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-spec", "f.xlsx", "--user", "alice"], "There is no upload spec “no-such-spec”."),
        ([SPEC, "f.xlsx", "--user", "nobody"], "There is no user “nobody”."),
        ([SPEC, "missing.xlsx", "--user", "alice"], "there is no such file"),
    ],
)
def test_wrong_arguments_exit_2_with_a_message(acme, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError) as failure:
        bulkupload("import", *args)

    assert failure.value.returncode == 2
    assert message in str(failure.value)


def read_all(leader: int) -> str:
    """Everything written to the terminal; reading past the closed end raises EIO on Linux."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_terminal_gets_a_progress_bar(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, xlsx_file(rows_for(acme_people, workday)))
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        bulkupload("import", SPEC, path, "--user", "alice", stderr=terminal)
    shown = read_all(leader)

    assert "\r" in shown
    assert "[" + "#" * 30 + "] 100% 3/3" in shown


def test_export_writes_the_users_entries_in_the_template_format(acme, acme_people, workday, tmp_path):
    bulkupload("import", SPEC, saved(tmp_path, xlsx_file(rows_for(acme_people, workday))), "--user", "alice")
    target = tmp_path / "out.xlsx"

    out, _err = bulkupload("export", SPEC, "--user", "alice", "-o", str(target))

    assert out.strip() == f"Exported 3 records to {target}."
    sheet = load_workbook(target, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert sorted(row[3] for row in rows[1:]) == [4, 7.5, 8]  # numbers stay numbers (issue 14)


def test_export_shows_only_the_users_own_tenant(acme, globex, acme_people, workday, tmp_path):
    bulkupload("import", SPEC, saved(tmp_path, xlsx_file(rows_for(acme_people, workday))), "--user", "alice")

    out, _err = bulkupload("export", SPEC, "--user", "bob", "-o", str(tmp_path / "bob.xlsx"))

    assert out.strip() == f"Exported 0 records to {tmp_path / 'bob.xlsx'}."


def test_purge_removes_abandoned_uploads_and_says_which(acme, django_user_model, private_file_root):
    alice = django_user_model.objects.get(username="alice")
    spec = get_spec(SPEC)
    old = services.create_batch(spec=spec, user=alice)
    fresh = services.create_batch(spec=spec, user=alice)
    UploadBatch.objects.filter(pk=old.pk).update(updated_at=timezone.now() - datetime.timedelta(days=10))

    out, _err = bulkupload("purge")

    assert out.splitlines()[0].startswith(f"Removed upload {old.pk} (no file, by alice, last touched ")
    assert out.splitlines()[-1] == "Removed 1 abandoned upload."
    assert list(UploadBatch.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_purge_makes_uploads_whose_worker_died_retryable(acme, acme_people, workday, django_user_model):
    spec = get_spec(SPEC)
    stuck = services.create_batch(spec=spec, user=django_user_model.objects.get(username="alice"))
    services.stage_upload(batch=stuck, upload=io.BytesIO(xlsx_file(rows_for(acme_people, workday))), name="big.xlsx")
    UploadBatch.objects.filter(pk=stuck.pk).update(
        status=UploadBatch.Status.APPLYING, updated_at=timezone.now() - datetime.timedelta(days=10)
    )

    out, _err = bulkupload("purge")

    assert f"Released upload {stuck.pk}: its background work stopped without finishing; it can be retried." in out
    stuck.refresh_from_db()
    assert stuck.status == UploadBatch.Status.READY and "Nothing was saved" in stuck.task_error
    assert services.apply_batch(batch_id=stuck.pk)[1] is True
    assert Entry.objects.count() == 3
