"""Two uploads open in two tabs of one session never see each other's state."""

import threading

import pytest
from django.db import connection
from django.test import Client

from bulkupload.models import UploadBatch, UploadRow
from project.timesheets.models import Entry

from .conftest import on_postgres
from .helpers import Wizard, xlsx_file


def tab_files(acme_people, workday):
    e, p = acme_people["emails"], acme_people["codes"]
    first = [[e[0], workday, p[0], 1, "no", "Admin", "tab A"], [e[1], workday, p[0], 2, "no", "Admin", "tab A"]]
    second = [[e[2], workday, p[1], 3, "no", "Design", "tab B"]]
    return xlsx_file(first), xlsx_file(second)


def same_session(client: Client) -> Client:
    """A second tab: another client object carrying the same session cookie."""
    tab = Client()
    tab.cookies = client.cookies
    return tab


def test_two_tabs_stay_independent_to_the_end(alice, acme, acme_people, workday):
    file_a, file_b = tab_files(acme_people, workday)
    tab_a, tab_b = Wizard(alice).start(), Wizard(same_session(alice)).start()

    tab_a.upload(file_a, "a.xlsx")
    tab_b.upload(file_b, "b.xlsx")
    assert tab_a.preview().context["batch"].file_name == "a.xlsx"
    assert tab_b.preview().context["batch"].file_name == "b.xlsx"
    tab_a.to_confirm()
    tab_b.to_confirm()
    tab_b.confirm()
    # Tab B's confirm reset only its own wizard; tab A is still at its confirm step with its own rows.
    assert tab_a.client.get(tab_a.url("confirm")).status_code == 200
    assert tab_a.batch().status == UploadBatch.Status.READY
    tab_a.confirm()

    a, b = tab_a.batch(), tab_b.batch()
    assert (a.status, a.created_count, b.status, b.created_count) == ("applied", 2, "applied", 1)
    assert sorted(Entry.objects.filter(tenant=acme).values_list("note", flat=True)) == ["tab A", "tab A", "tab B"]


def test_starting_a_new_upload_never_resets_another(alice, acme_people, workday):
    file_a, _ = tab_files(acme_people, workday)
    first = Wizard(alice).start()
    first.upload(file_a)
    Wizard(alice).start()  # a second "New upload" in another tab
    page = first.preview()
    assert page.status_code == 200
    assert first.batch().new_count == 2


@pytest.mark.django_db(transaction=True)
def test_two_tabs_posting_at_the_same_moment_both_complete(demo, acme_people, workday):
    """Each step of both tabs posted at once from two threads: the session row's last save wins, nothing is lost."""
    if not on_postgres():
        pytest.skip("Simultaneous requests need a database with row locking and concurrent writers (PostgreSQL).")
    from .conftest import login

    alice = login("alice")
    file_a, file_b = tab_files(acme_people, workday)
    tabs = [Wizard(alice).start(), Wizard(same_session(alice)).start()]
    files = [file_a, file_b]
    barrier = threading.Barrier(2, timeout=30)
    failures: list[BaseException] = []

    def walk(index: int) -> None:
        tab = tabs[index]
        try:
            for step in ("upload", "preview", "to_confirm", "confirm"):
                barrier.wait()
                if step == "upload":
                    response = tab.upload(files[index], f"tab{index}.xlsx")
                elif step == "preview":
                    response = tab.preview()
                elif step == "to_confirm":
                    response = tab.to_confirm()
                else:
                    response = tab.confirm()
                assert response.status_code in (200, 302), (step, response.status_code)
        except BaseException as exc:  # reported below, from the main thread
            failures.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=walk, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures

    a, b = tabs[0].batch(), tabs[1].batch()
    assert (a.status, a.created_count) == ("applied", 2)
    assert (b.status, b.created_count) == ("applied", 1)
    assert UploadRow.objects.filter(batch=a, values__note="tab A").count() == 2
    assert UploadRow.objects.filter(batch=b, values__note="tab B").count() == 1
    assert Entry.objects.count() == 3
