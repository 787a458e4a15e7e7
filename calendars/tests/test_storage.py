"""Calendars stored once by their content, shared by the jobs that made them,
deleted when no job points at them, and kept within a budget, oldest first."""

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from operator import attrgetter

import boto3
import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendars import jobs, selectors
from calendars.jobs import calendar_storage_trim
from calendars.models import CalendarExport
from calendars.storage import calendar_file_store, calendar_spool
from calendars.tasks import ical_task
from tests.support.processes import django_run
from tests.support.stack import stack_env
from todos.models import Todo

pytestmark = pytest.mark.django_db
DEADLINE = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def todos():
    Todo.objects.create(title="open", deadline_at=DEADLINE)
    Todo.objects.create(title="done", deadline_at=DEADLINE, completed=True)


def stored_files(media_root) -> list[str]:
    folder = media_root / "calendars"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def built(**filters) -> CalendarExport:
    export = CalendarExport.objects.create(**filters)
    ical_task(str(export.id), **filters)
    export.refresh_from_db()
    return export


def content_of(export: CalendarExport) -> bytes:
    with default_storage.open(export.file.name, "rb") as calendar:
        return calendar.read()


# --- content addressing -------------------------------------------------------


def test_identical_calendars_are_stored_once_under_their_sha256(todos, media_root):
    first, second = built(), built()

    content = content_of(first)
    digest = hashlib.sha256(content).hexdigest()
    assert first.sha256 == second.sha256 == digest
    assert first.file.name == second.file.name == f"calendars/{digest}.ics"
    assert stored_files(media_root) == [f"{digest}.ics"]


def test_different_calendars_are_stored_apart(todos, media_root):
    everything, done = built(), built(completed=True)
    assert everything.sha256 != done.sha256
    assert len(stored_files(media_root)) == 2


def test_a_shared_file_is_deleted_only_when_no_job_points_at_it(
    todos, media_root, settings
):
    settings.ICAL_RESULT_EXPIRY_DAYS = 7
    old, recent = built(), built()
    CalendarExport.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(days=8)
    )

    assert jobs.calendar_exports_expire() == 1
    assert stored_files(media_root) == [f"{recent.sha256}.ics"]

    CalendarExport.objects.filter(pk=recent.pk).update(
        finished_at=timezone.now() - timedelta(days=8)
    )
    assert jobs.calendar_exports_expire() == 1
    assert stored_files(media_root) == []


def test_files_no_job_points_at_are_deleted_by_the_expiry(todos, media_root):
    """A worker killed between storing a file and recording it leaves one."""
    kept = built()
    default_storage.save("calendars/" + "0" * 64 + ".ics", ContentFile(b"orphan"))

    jobs.calendar_exports_expire()

    assert stored_files(media_root) == [f"{kept.sha256}.ics"]


# --- reuse --------------------------------------------------------------------


def todo_reads(export: CalendarExport) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        ical_task(str(export.id))
    return [query["sql"] for query in queries if "todos_todo" in query["sql"]]


def test_a_job_reuses_the_calendar_of_one_that_read_the_todos_after_it_was_asked(
    todos,
):
    waiting = CalendarExport.objects.create()
    later = built()  # requested after `waiting`, and built first

    assert todo_reads(waiting) == []

    waiting.refresh_from_db()
    assert waiting.status == "SUCCESS"
    reused = ("file.name", "sha256", "event_count", "file_size", "read_at")
    assert [attrgetter(name)(waiting) for name in reused] == [
        attrgetter(name)(later) for name in reused
    ]


def test_a_job_whose_donor_s_file_is_gone_is_built_after_all(todos, media_root):
    waiting = CalendarExport.objects.create()
    later = built()
    default_storage.delete(later.file.name)  # trimmed or expired meanwhile

    assert len(todo_reads(waiting)) == 1

    waiting.refresh_from_db()
    assert waiting.status == "SUCCESS" and default_storage.exists(waiting.file.name)


def test_a_job_asked_after_the_other_was_built_reads_the_todos_again(todos):
    earlier = built()
    Todo.objects.create(title="added since", deadline_at=DEADLINE)
    asked_now = CalendarExport.objects.create()

    assert len(todo_reads(asked_now)) == 1

    asked_now.refresh_from_db()
    assert asked_now.event_count == earlier.event_count + 1


@pytest.mark.parametrize(
    "filters, other",
    [({"completed": True}, {}), ({"window": 3}, {"window": 3}), ({}, {"window": 3})],
    ids=[
        "other-filters",
        "windows-count-from-each-request",
        "a-windowed-calendar-is-no-donor",
    ],
)
def test_only_a_job_with_the_same_filters_and_no_window_is_reused(
    todos, filters, other
):
    waiting = CalendarExport.objects.create(**filters)
    built(**other)
    with CaptureQueriesContext(connection) as queries:
        ical_task(str(waiting.id), **filters)
    assert any("todos_todo" in query["sql"] for query in queries)


# --- what a calendar holds ----------------------------------------------------


def test_a_calendar_holds_the_todos_as_the_worker_reads_them(todos):
    """Not as they were when the job was asked for: a todo added in between
    is in it. The window is counted from the request."""
    export = CalendarExport.objects.create(window=1)
    asked_at = timezone.now() - timedelta(days=2)
    CalendarExport.objects.filter(pk=export.pk).update(created_at=asked_at)
    Todo.objects.create(title="due then", deadline_at=asked_at + timedelta(hours=1))
    Todo.objects.create(title="due now", deadline_at=timezone.now())

    ical_task(str(export.id), window=1)

    export.refresh_from_db()
    assert b"SUMMARY:due then" in content_of(export)
    assert b"SUMMARY:due now" not in content_of(export)


@pytest.mark.django_db(transaction=True)  # commits of another connection
def test_the_rows_are_read_as_they_were_at_one_moment(todos, monkeypatch):
    """A change committed while the rows are being read, one at a time, is not
    among them: the read is one statement (no transaction held open; on
    SQLite none holds the write lock for the build)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "SQLite's in-memory test database locks the table against a writer "
            "while a statement reads it (a file database in WAL mode does not)"
        )
    monkeypatch.setattr(selectors, "ROWS_PER_FETCH", 1)
    first, last = Todo.objects.order_by("id")
    rows = selectors.calendar_rows(
        completed=None, window=None, requested_at=timezone.now()
    )

    seen = [next(rows)]
    changed = threading.Thread(target=rename_and_add, args=(last.pk,))
    changed.start()
    changed.join(timeout=10)
    seen += list(rows)

    assert [row[1] for row in seen] == [first.title, last.title]
    assert Todo.objects.get(pk=last.pk).title == "renamed meanwhile"
    assert Todo.objects.count() == 3


def rename_and_add(todo_id: int) -> None:
    try:
        Todo.objects.filter(pk=todo_id).update(title="renamed meanwhile")
        Todo.objects.create(title="added meanwhile", deadline_at=DEADLINE)
    finally:
        connection.close()  # this thread's own


# --- budget -------------------------------------------------------------------


def test_past_the_storage_budget_the_oldest_calendars_go_first(
    todos, media_root, settings
):
    everything = built()
    settings.ICAL_STORAGE_BUDGET_BYTES = everything.file_size * 2 + 10
    done = built(completed=True)
    open_ = built(completed=False)  # a third distinct file: over the budget

    remaining = set(CalendarExport.objects.values_list("pk", flat=True))
    assert remaining == {done.pk, open_.pk}
    assert stored_files(media_root) == sorted(
        [f"{done.sha256}.ics", f"{open_.sha256}.ics"]
    )


def test_a_calendar_larger_than_the_whole_budget_fails_its_job(
    todos, media_root, settings
):
    settings.ICAL_STORAGE_BUDGET_BYTES = 100
    export = CalendarExport.objects.create()

    ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "FAILURE"
    assert "storage budget" in export.error
    assert stored_files(media_root) == []


def test_a_calendar_of_exactly_the_budget_is_kept(todos, media_root, settings):
    size = built().file_size
    CalendarExport.objects.all().delete()
    settings.ICAL_STORAGE_BUDGET_BYTES = size

    export = built()

    assert export.status == "SUCCESS" and export.file_size == size


def stored_job(name: str, size: int, *, age_minutes: int) -> CalendarExport:
    """A finished job whose calendar, `name`, takes `size` bytes."""
    path = f"calendars/{name}.ics"
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(b"x" * size))
    return CalendarExport.objects.create(
        status="SUCCESS",
        file=path,
        file_size=size,
        finished_at=timezone.now() - timedelta(minutes=age_minutes),
    )


@pytest.mark.parametrize(
    "budget, deleted, left",
    [(240, 0, "abcd"), (190, 2, "cd"), (150, 3, "d"), (60, 4, "")],
)
def test_the_trim_deletes_the_oldest_jobs_until_the_distinct_files_fit(
    media_root, settings, budget, deleted, left
):
    """Files counted once however many jobs share one; a shared file goes with
    its last job; the calendar just stored (`keep`, here the oldest) stays,
    even larger than the budget, and the count is of every job deleted."""
    jobs_ = {
        "k": stored_job("kept", 100, age_minutes=9),  # just stored
        "a": stored_job("shared", 50, age_minutes=4),
        "b": stored_job("shared", 50, age_minutes=3),
        "c": stored_job("own", 60, age_minutes=2),
        "d": stored_job("last", 30, age_minutes=1),
    }
    settings.ICAL_STORAGE_BUDGET_BYTES = budget

    assert calendar_storage_trim(keep="calendars/kept.ics") == deleted

    remaining = set(CalendarExport.objects.values_list("pk", flat=True))
    assert remaining == {jobs_[key].pk for key in "k" + left}
    assert default_storage.exists("calendars/shared.ics") == ("b" in left)


def test_the_build_keeps_its_calendar_though_a_newer_job_finished_first(
    todos, media_root, settings
):
    """A job that finished after this one was stored (another worker's) is
    older than nothing: the build's trim deletes it, never the calendar just
    stored, though that one alone is the oldest."""
    first = built()
    size = first.file_size
    CalendarExport.objects.all().delete()
    default_storage.delete(first.file.name)  # so that the build adds it again
    newer = stored_job("newer", size, age_minutes=-1)
    settings.ICAL_STORAGE_BUDGET_BYTES = size * 2 - 1

    export = built()

    assert export.status == "SUCCESS"
    assert default_storage.exists(export.file.name)
    assert not CalendarExport.objects.filter(pk=newer.pk).exists()


def test_a_calendar_stored_already_spares_the_trim(todos, media_root, settings):
    """Storage grows only by a file added: a job whose calendar is stored
    already (its todos have not changed) runs no trim, and what the trim
    would delete stays until a job adds a file."""
    first = built()
    older = stored_job("older", first.file_size, age_minutes=60)
    settings.ICAL_STORAGE_BUDGET_BYTES = first.file_size * 2 - 1  # over it

    again = built()

    assert again.file.name == first.file.name
    assert CalendarExport.objects.filter(pk=older.pk).exists()
    Todo.objects.create(title="new", deadline_at=DEADLINE)
    assert built().status == "SUCCESS"  # a calendar added: the trim runs
    assert not CalendarExport.objects.filter(pk=older.pk).exists()


def test_storing_a_calendar_says_whether_it_added_the_file(media_root):
    with calendar_spool([b"BEGIN:VCALENDAR\r\n"]) as spooled:
        assert calendar_file_store(spooled) is True
        assert calendar_file_store(spooled) is False

    assert stored_files(media_root) == [f"{spooled.sha256}.ics"]


def test_a_job_s_success_takes_its_file_s_lock_in_its_own_statement(todos):
    """On PostgreSQL: the lock, then the row written, in one round trip; the
    transaction is BEGIN, that UPDATE and COMMIT. Elsewhere no lock is taken:
    each write transaction runs alone."""
    export = CalendarExport.objects.create()

    with CaptureQueriesContext(connection) as queries:
        ical_task(str(export.id))

    statements = [query["sql"] for query in queries]
    locks = [sql for sql in statements if "pg_advisory_xact_lock" in sql]
    if connection.vendor != "postgresql":
        assert locks == []
        return
    (success,) = locks
    assert success.startswith("WITH before AS (SELECT pg_advisory_xact_lock")
    assert "UPDATE" in success and "SUCCESS" in success


# --- locks: writers racing on PostgreSQL --------------------------------------


def raced(tmp_path, postgres_database, call: str) -> str:
    """What `call` (in tests.support.races) prints, run against PostgreSQL."""
    result = django_run(
        f"from tests.support import races\nprint(races.{call})",
        stack_env(tmp_path, postgres_database),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


@pytest.mark.django_db(False)  # the writers run on a PostgreSQL of their own
def test_a_burst_of_one_client_s_requests_on_postgresql_records_only_its_cap(
    tmp_path, postgres_database
):
    """Six requests that have all counted the client's waiting jobs before any
    records one: the client's lock lets two in, the cap, not six."""
    assert (
        raced(tmp_path, postgres_database, "concurrent_creates(requests=6, cap=2)")
        == "2"
    )


@pytest.mark.django_db(False)
def test_a_calendar_released_as_a_job_reuses_it_on_postgresql_is_not_lost(
    tmp_path, postgres_database
):
    """A file whose last job (a donor) was trimmed is released just as a job
    reuses it: the file's lock makes one wait for the other, and no job points
    at a deleted file."""
    call = 'release_while_adopted(adopter="reuse")'
    assert raced(tmp_path, postgres_database, call) == "[]"


@pytest.mark.django_db(False)
def test_a_calendar_released_as_a_job_builds_it_again_on_postgresql_is_not_lost(
    tmp_path, postgres_database
):
    """A file whose last job was trimmed is released just as a job builds the
    same todos, hence the same file: the build stores it and points its job at
    it under the file's lock, so no job points at a deleted file."""
    call = 'release_while_adopted(adopter="build")'
    assert raced(tmp_path, postgres_database, call) == "[]"


# --- S3: downloads go straight to the bucket ----------------------------------


def test_on_s3_the_result_is_a_redirect_to_a_short_lived_presigned_url(
    client, todos, aws, settings, monkeypatch
):
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    bucket = "calendars-test"
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
    settings.CALENDAR_BUCKET = bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "region_name": "us-east-1",
                "signature_version": "s3v4",
            },
        },
    }
    export = built()

    response = client.get(f"/api/v1/todos/ical/{export.id}/result")

    assert response.status_code == 302
    assert response["ETag"] == f'"{export.sha256}"'
    assert response["Cache-Control"] == "no-store"
    assert (
        f"X-Amz-Expires={jobs.settings.ICAL_DOWNLOAD_URL_SECONDS}"
        in (response["Location"])
    )
    download = requests.get(response["Location"], timeout=10)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == export.sha256
    assert 'filename="todos.ics"' in download.headers["Content-Disposition"]
