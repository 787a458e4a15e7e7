"""The ical task, called as a function: reads the todos, stores the calendar."""

import hashlib
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import icalendar
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as django_timezone

from calendars import jobs, selectors, storage
from calendars.ical import TodoEntry, calendar_ics_reference, todo_uid
from calendars.models import CalendarExport
from calendars.tasks import ical_task, short_reason
from todos.models import Todo

pytestmark = pytest.mark.django_db
DEADLINE = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def todos():
    return [
        Todo.objects.create(title="open", deadline_at=DEADLINE),
        Todo.objects.create(title="done", deadline_at=DEADLINE, completed=True),
        Todo.objects.create(title="undated"),
    ]


@pytest.fixture
def build_raises(monkeypatch):
    """Make every attempt of the task's build raise `error`; the attempts."""

    def make(error: Exception) -> list[dict]:
        attempts = []

        def build(**kwargs):
            attempts.append(kwargs)
            raise error

        monkeypatch.setattr("calendars.tasks.calendar_export_build", build)
        return attempts

    return make


DATABASE_GONE = OperationalError("server closed the connection unexpectedly")


def events_of(export: CalendarExport) -> list[icalendar.Event]:
    with export.file.open("rb") as calendar:
        return icalendar.Calendar.from_ical(calendar.read()).walk("VEVENT")


def test_builds_one_event_per_dated_todo_and_records_success(todos):
    export = CalendarExport.objects.create()

    outcome = ical_task(str(export.id))

    export.refresh_from_db()
    assert outcome == {"export_id": str(export.id), "status": "SUCCESS", "events": 2}
    assert export.status == "SUCCESS" and export.event_count == 2
    assert export.started_at <= export.finished_at
    assert [str(event["SUMMARY"]) for event in events_of(export)] == ["open", "done"]


def test_uses_the_filters_the_message_carries(todos):
    export = CalendarExport.objects.create(completed=True)

    ical_task(str(export.id), completed=True)

    export.refresh_from_db()
    assert [str(event["UID"]) for event in events_of(export)] == [todo_uid(todos[1].pk)]


def test_a_redelivered_job_that_succeeded_does_nothing(todos, media_root):
    export = CalendarExport.objects.create()
    ical_task(str(export.id))
    export.refresh_from_db()
    first_file, first_finished = export.file.name, export.finished_at
    Todo.objects.create(title="added later", deadline_at=DEADLINE)

    ical_task(str(export.id))

    export.refresh_from_db()
    assert (export.file.name, export.finished_at) == (first_file, first_finished)
    assert len(events_of(export)) == 2
    assert [path.name for path in (media_root / "calendars").iterdir()] == [
        f"{export.sha256}.ics"
    ]


def test_a_job_built_again_stores_no_second_file(todos, media_root):
    export = CalendarExport.objects.create()
    ical_task(str(export.id))
    CalendarExport.objects.filter(pk=export.pk).update(status="STARTED")

    ical_task(str(export.id))

    assert len(list((media_root / "calendars").iterdir())) == 1


def test_an_unknown_job_is_ignored():
    missing = "00000000-0000-0000-0000-000000000000"
    assert ical_task(missing) == {"export_id": missing, "status": "UNKNOWN"}


def test_a_job_that_raises_ends_failure_with_a_short_reason(todos, monkeypatch):
    def explode(*args, **kwargs):
        raise ValueError("the calendar\n   could not be built")

    monkeypatch.setattr(jobs, "calendar_row_chunks", explode)
    export = CalendarExport.objects.create()

    with pytest.raises(ValueError):
        ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "FAILURE"
    assert export.error == "ValueError: the calendar could not be built"
    assert export.finished_at is not None


def test_a_database_error_is_retried_and_marked_retry(todos, build_raises):
    build_raises(DATABASE_GONE)
    export = CalendarExport.objects.create()

    # Called directly, Celery's retry re-raises the error instead of queueing.
    with pytest.raises(OperationalError):
        ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "RETRY"


def test_database_errors_are_retried_3_times_with_backoff_then_end_failure(
    todos, build_raises
):
    """As the docs say: up to 3 retries, each waiting longer (1, 2, 4 s), and
    then FAILURE with the reason; never retried for ever."""
    attempts = build_raises(DATABASE_GONE)
    export = CalendarExport.objects.create()

    # Run as the worker would, retries included (eager: countdowns not waited).
    with mock.patch.object(ical_task, "retry", wraps=ical_task.retry) as retry:
        outcome = ical_task.apply(args=[str(export.id)])

    assert len(attempts) == 1 + 3
    assert [call.kwargs["countdown"] for call in retry.call_args_list] == [1, 2, 4]
    assert outcome.state == "FAILURE"
    assert isinstance(outcome.result, OperationalError)
    export.refresh_from_db()
    assert export.status == "FAILURE" and export.finished_at is not None
    assert export.error == (
        "The database did not answer: server closed the connection unexpectedly"
    )


def test_a_job_past_its_soft_time_limit_ends_failure_saying_so(
    todos, build_raises, settings
):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 270
    build_raises(SoftTimeLimitExceeded())
    export = CalendarExport.objects.create()

    with pytest.raises(SoftTimeLimitExceeded):
        ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "FAILURE"
    assert export.error == "Took longer than 270 s."


def test_a_job_beats_from_the_moment_it_starts(todos):
    """A worker killed before its first beat still leaves a beat to miss."""
    export = CalendarExport.objects.create()

    ical_task(str(export.id))

    export.refresh_from_db()
    assert export.heartbeat_at == export.started_at is not None


def test_a_job_is_read_and_marked_started_in_one_statement(todos):
    export = CalendarExport.objects.create(completed=True, client="c", sends=2)

    with CaptureQueriesContext(connection) as queries:
        started = jobs._start(export.id)

    assert len(queries) == 1 and queries[0]["sql"].startswith("UPDATE")
    stored = CalendarExport.objects.get(pk=export.pk)
    assert stored.status == started.status == "STARTED"
    assert stored.started_at == stored.heartbeat_at == started.started_at
    assert stored.updated_at == started.updated_at > export.updated_at
    # The job as the ORM reads it, every field converted alike.
    for field in CalendarExport._meta.concrete_fields:
        name = field.attname
        assert getattr(started, name) == getattr(stored, name), name
    assert (started.completed, started.client, started.sends) == (True, "c", 2)


def test_without_returning_a_job_is_read_then_marked_started(todos, monkeypatch):
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    export = CalendarExport.objects.create()

    started = jobs._start(export.id)

    stored = CalendarExport.objects.get(pk=export.pk)
    assert stored.status == started.status == "STARTED"
    assert stored.started_at == stored.heartbeat_at == started.started_at


def test_a_job_that_succeeded_is_read_as_it_is_and_left_so(todos):
    export = CalendarExport.objects.create()
    ical_task(str(export.id))
    done = CalendarExport.objects.get(pk=export.pk)

    again = jobs._start(export.id)

    assert again.status == "SUCCESS"
    assert CalendarExport.objects.get(pk=export.pk).updated_at == done.updated_at
    assert jobs._start("00000000-0000-0000-0000-000000000000") is None


def test_a_job_starts_and_finds_its_donor_as_calendar_export_donor_does(
    django_user_model,
):
    """On PostgreSQL in the start's own statement: the same donor as the
    ORM's definition finds, for each way a finished job can differ."""
    user = django_user_model.objects.create_user("donor-owner")
    jobs_ = {
        "plain": CalendarExport.objects.create(),
        "done": CalendarExport.objects.create(completed=True),
        "undone": CalendarExport.objects.create(completed=False),
        "users": CalendarExport.objects.create(owner=user),
        "window": CalendarExport.objects.create(window=3),
    }
    after = django_timezone.now() + timedelta(seconds=1)

    def finished(read_at, **fields):
        return CalendarExport.objects.create(
            status="SUCCESS", file="calendars/x.ics", read_at=read_at, **fields
        )

    finished(after)  # the shared list's, every todo
    finished(after + timedelta(seconds=1), completed=True)
    finished(after - timedelta(days=1), completed=False)  # read before asked
    finished(after, owner=user)
    finished(after, window=3)
    expected = {
        name: selectors.calendar_export_donor(export=job) for name, job in jobs_.items()
    }
    assert expected["window"] is expected["undone"] is None
    assert len(set(expected.values())) == 4

    for name, job in jobs_.items():
        with CaptureQueriesContext(connection) as queries:
            started, donor = jobs._start_finding_donor(job.id)
        assert started.status == "STARTED" and started.pk == job.pk
        assert donor == expected[name], name
        if donor is not None:
            assert (donor.read_at, donor.file.name) == (
                expected[name].read_at,
                "calendars/x.ics",
            )
        if connection.vendor == "postgresql":
            assert len(queries) == 1, name


def test_a_job_that_succeeded_is_no_one_s_to_start_nor_to_find_a_donor_for(todos):
    export = CalendarExport.objects.create()
    ical_task(str(export.id))

    started, donor = jobs._start_finding_donor(export.id)

    assert (started.status, donor) == ("SUCCESS", None)
    assert jobs._start_finding_donor("00000000-0000-0000-0000-000000000000") == (
        None,
        None,
    )


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_a_running_job_beats_for_itself(todos, settings, monkeypatch):
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    export = CalendarExport.objects.create()
    beats = []

    def watch_the_beat():
        """Mid-build (where the todos are read): a beat lands."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not beats:
            row = CalendarExport.objects.get(pk=export.pk)
            if row.heartbeat_at > row.started_at:
                beats.append(row.heartbeat_at)
            time.sleep(0.02)

    def rows_after_a_beat(**filters):
        watch_the_beat()
        return selectors.calendar_rows(**filters)

    monkeypatch.setattr(jobs, "calendar_rows", rows_after_a_beat)
    jobs.calendar_export_build(export_id=export.id, completed=None, window=None)

    assert beats, "the job's own row was beaten while it ran"


@pytest.mark.parametrize("delay, sleeps", [({}, []), ({"delay": 0.5}, [0.5])])
def test_the_simulated_delay_is_waited_only_when_asked_for(
    todos, monkeypatch, delay, sleeps
):
    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    export = CalendarExport.objects.create()

    jobs.calendar_export_build(
        export_id=export.id, completed=None, window=None, **delay
    )

    assert slept == sleeps


def test_a_job_marked_retry_counts_as_queued_from_then(todos, build_raises):
    """The sweep counts a waiting job's time from its last change."""
    build_raises(DATABASE_GONE)
    export = CalendarExport.objects.create()
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    CalendarExport.objects.filter(pk=export.pk).update(updated_at=long_ago)

    with pytest.raises(OperationalError):
        ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "RETRY" and export.updated_at > long_ago


def test_short_reason_is_one_line_and_bounded():
    reason = short_reason(RuntimeError("x" * 500 + "\nTraceback (most recent call)"))
    assert "\n" not in reason and len(reason) == 200
    assert short_reason(KeyError()) == "KeyError"


def test_records_the_size_and_sha256_of_the_file_it_stored(todos):
    export = CalendarExport.objects.create()

    ical_task(str(export.id))

    export.refresh_from_db()
    with export.file.open("rb") as calendar:
        content = calendar.read()
    assert export.file_size == len(content) > 0
    assert export.sha256 == hashlib.sha256(content).hexdigest()
    assert export.etag == f'"{export.sha256}"'


def unfolded(ics: bytes) -> list[str]:
    return ics.decode("utf-8").replace("\r\n ", "").split("\r\n")


def test_the_stored_calendar_is_the_reference_calendar_of_the_same_rows():
    """Read from the database in whole seconds, written as a stream: the same."""
    brisbane = timezone(timedelta(hours=10))
    rows = [
        Todo.objects.create(
            title="Launch 🚀, review; ship \\ " + "a long title " * 10,
            description="line one\nline two, with; punctuation " + "😀" * 30,
            deadline_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=brisbane),
        ),
        Todo.objects.create(
            title="Done",
            completed=True,
            deadline_at=datetime(2030, 2, 1, 9, 0, 0, 999999, tzinfo=UTC),
        ),
        Todo.objects.create(
            title="Before 1970",
            deadline_at=datetime(1969, 7, 20, 20, 17, 40, 600000, tzinfo=UTC),
        ),
        Todo.objects.create(title="Undated"),
    ]
    # Fractions of a second, before and after 1970, are dropped, never rounded.
    Todo.objects.filter(pk=rows[0].pk).update(
        updated_at=datetime(1969, 12, 31, 23, 59, 59, 600000, tzinfo=UTC)
    )
    Todo.objects.filter(pk=rows[1].pk).update(
        updated_at=datetime(2031, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    )
    entries = [
        TodoEntry(
            id=todo.id,
            title=todo.title,
            description=todo.description,
            completed=todo.completed,
            deadline_at=todo.deadline_at,
            updated_at=todo.updated_at,
        )
        for todo in Todo.objects.order_by("id")
    ]
    export = CalendarExport.objects.create()

    ical_task(str(export.id))

    export.refresh_from_db()
    with export.file.open("rb") as calendar:
        stored = calendar.read()
    assert unfolded(stored) == unfolded(calendar_ics_reference(entries))
    assert export.event_count == 3


def build_queries(export: CalendarExport) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        jobs.calendar_export_build(export_id=export.id, completed=None, window=None)
    return [query["sql"] for query in queries]


def test_reads_only_the_columns_it_needs_in_as_many_queries_for_any_number(todos):
    few = build_queries(CalendarExport.objects.create())
    Todo.objects.bulk_create(
        Todo(title=f"todo {number}", deadline_at=DEADLINE) for number in range(300)
    )

    many = build_queries(CalendarExport.objects.create())

    # The job row read and written, a look for a calendar to reuse, the rows,
    # the room stored calendars take, and the savepoints around them.
    assert len(many) == len(few) <= 10
    todo_reads = [sql for sql in many if "todos_todo" in sql]
    assert len(todo_reads) == 1
    assert "created_at" not in todo_reads[0]


def traced_peak_of_a_build() -> tuple[int, CalendarExport]:
    export = CalendarExport.objects.create()
    tracemalloc.start()
    try:
        jobs.calendar_export_build(export_id=export.id, completed=None, window=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    export.refresh_from_db()
    return peak, export


def add_dated_todos(count: int) -> None:
    Todo.objects.bulk_create(
        (
            Todo(title=f"todo {number}, with; text", deadline_at=DEADLINE)
            for number in range(count)
        ),
        batch_size=1000,
    )


def test_memory_does_not_grow_with_the_number_of_todos(monkeypatch):
    """Rows are read and written a chunk at a time, never all at once."""
    monkeypatch.setattr(selectors, "ROWS_PER_FETCH", 100)
    monkeypatch.setattr(storage, "WRITE_BLOCK_BYTES", 16 * 1024)
    add_dated_todos(1000)
    small_peak, small = traced_peak_of_a_build()
    add_dated_todos(3000)

    large_peak, large = traced_peak_of_a_build()

    assert (small.event_count, large.event_count) == (1000, 4000)
    # Four times the todos, not four times the memory, nor the file in memory.
    assert large_peak < 1.5 * small_peak
    assert large_peak < large.file_size / 2


@pytest.mark.django_db
def test_a_pool_process_commits_without_waiting_for_the_disk():
    """Once a pool process has started (worker_process_init), each database
    connection it opens commits without waiting for the disk, on PostgreSQL
    (SQLite has no such setting); the web server's never do."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    from calendars import tasks

    def synchronous_commit() -> str | None:
        fresh = connections.create_connection("default")
        try:
            fresh.ensure_connection()
            if fresh.vendor != "postgresql":
                return None
            with fresh.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                return cursor.fetchone()[0]
        finally:
            fresh.close()

    expected = "off" if connection.vendor == "postgresql" else None
    assert synchronous_commit() == ("on" if expected else None)  # the web's
    tasks._pool_process_commits_asynchronously()
    try:
        assert synchronous_commit() == expected
    finally:
        connection_created.disconnect(tasks.commit_without_waiting_for_disk)


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_is_replaced_before_a_task_once_too_old_or_broken(
    monkeypatch,
):
    """Workers keep their connection between tasks (CELERY_DB_REUSE_MAX); one
    that outlived DATABASE_CONN_MAX_AGE, or broke meanwhile (PostgreSQL
    restarted), is closed before a task uses it, as Django does before each
    request, and the task opens a fresh one."""
    from celery.signals import task_prerun
    from django.db import connections

    def before_a_task() -> None:
        task_prerun.send(sender=ical_task, task_id="t", task=ical_task, args=())

    database = connections["default"]
    closed = []
    close = database.close
    monkeypatch.setattr(database, "close", lambda: closed.append(1) or close())

    database.ensure_connection()
    before_a_task()
    assert closed == []  # a connection still young and sound is kept

    database.close_at = time.monotonic() - 1  # past DATABASE_CONN_MAX_AGE
    before_a_task()
    assert closed == [1]
    assert Todo.objects.count() == 0

    if database.vendor == "postgresql":  # SQLite's file cannot go away
        database.connection.close()  # broken underneath Django, which keeps it
        before_a_task()
        assert Todo.objects.count() == 0
