"""Writers racing for one advisory lock (calendars.jobs._lock), for the tests
that each lock is needed: a client's queue cap, and a calendar file released
while a job is pointed at it.

Run in a process of their own against PostgreSQL (tests call them through
django_run), where the locks act: each writer is a thread with its own
connection, held at the worst point of its race for at most WAIT seconds. With
the lock in place the other writer is stuck behind it, the wait runs out and
the race resolves one way or the other; without it, both interleave.
"""

import threading
from unittest import mock

from django.core.files.storage import default_storage
from django.db import connection

from calendars import jobs
from calendars.models import CalendarExport
from todos.models import Todo

WAIT = 3.0  # seconds a writer waits for the other at its worst point


def _run(*targets) -> None:
    """Run each target in a thread of its own connection; re-raise any error."""
    errors: list[BaseException] = []

    def run(target) -> None:
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


def concurrent_creates(*, requests: int, cap: int) -> int:
    """How many jobs one client's `requests` simultaneous requests record when
    a client may have `cap` waiting: each counts before any records its job."""
    all_have_counted = threading.Barrier(requests, timeout=WAIT)
    create = CalendarExport.objects.create

    def counted_then_create(**fields) -> CalendarExport:
        try:
            all_have_counted.wait()
        except threading.BrokenBarrierError:
            pass  # the others are behind the client's lock
        return create(**fields)

    def request() -> None:
        try:
            jobs.calendar_export_create(client="burst")
        except jobs.TooManyWaiting:
            pass

    with (
        mock.patch.object(jobs.settings, "ICAL_MAX_QUEUED_PER_CLIENT", cap),
        mock.patch.object(CalendarExport.objects, "create", counted_then_create),
        mock.patch.object(jobs.current_app, "send_task", lambda *a, **kw: None),
    ):
        _run(*[request] * requests)
    return CalendarExport.objects.filter(client="burst").count()


def release_while_adopted(*, adopter: str) -> list[str]:
    """The jobs left pointing at a deleted calendar after its file is released
    (its last job trimmed) just as another job takes the same calendar:
    `adopter` "reuse" (the trimmed job was its donor) or "build" (it builds
    the same todos again). Empty when the lock keeps them apart."""
    Todo.objects.create(title="the same todos")
    first = CalendarExport.objects.create()
    jobs.calendar_export_build(export_id=first.id, completed=None, window=None)
    first.refresh_from_db()
    name = first.file.name
    assert default_storage.exists(name), name
    later = CalendarExport.objects.create()
    # The trim deletes the first job (the later one's donor, as that one's
    # build read it an instant before), then releases its file.
    CalendarExport.objects.filter(pk=first.pk).delete()

    checked = threading.Event()  # the release found no job pointing at it
    adopted = threading.Event()  # the adopter's job is committed
    delete = jobs.calendar_file_delete

    def checked_then_delete(file_name: str) -> None:
        checked.set()
        adopted.wait(WAIT)
        delete(file_name)

    def release() -> None:
        jobs.calendar_file_release(name)

    def adopt() -> None:
        checked.wait(WAIT)
        if adopter == "reuse":
            jobs._reuse(later, first)
        else:
            jobs.calendar_export_build(export_id=later.id, completed=None, window=None)
        adopted.set()

    with mock.patch.object(jobs, "calendar_file_delete", checked_then_delete):
        _run(release, adopt)
    later.refresh_from_db()
    assert later.file.name in ("", name), later.file.name
    return [
        str(export.id)
        for export in CalendarExport.objects.exclude(file="")
        if not default_storage.exists(export.file.name)
    ]
