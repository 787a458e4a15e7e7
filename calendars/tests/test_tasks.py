"""The ical task, called as a function: reads the todos, stores the calendar."""

from datetime import UTC, datetime

import icalendar
import pytest
from django.db import OperationalError

from calendars import services
from calendars.ical import todo_uid
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
        f"{export.id}.ics"
    ]


def test_a_job_built_again_overwrites_its_file(todos, media_root):
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

    monkeypatch.setattr(services, "calendar_ics", explode)
    export = CalendarExport.objects.create()

    with pytest.raises(ValueError):
        ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "FAILURE"
    assert export.error == "ValueError: the calendar could not be built"
    assert export.finished_at is not None


def test_a_database_error_is_retried_and_marked_retry(todos, monkeypatch):
    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("calendars.tasks.calendar_export_build", database_gone)
    export = CalendarExport.objects.create()

    # Called directly, Celery's retry re-raises the error instead of queueing.
    with pytest.raises(OperationalError):
        ical_task(str(export.id))

    export.refresh_from_db()
    assert export.status == "RETRY"


def test_short_reason_is_one_line_and_bounded():
    reason = short_reason(RuntimeError("x" * 500 + "\nTraceback (most recent call)"))
    assert "\n" not in reason and len(reason) == 200
    assert short_reason(KeyError()) == "KeyError"
