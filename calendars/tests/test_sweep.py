"""The sweep sends again jobs stuck past their time limit, and expires old ones."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from celery.signals import worker_ready, worker_shutting_down
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.db.models import QuerySet
from django.utils import timezone

from calendars import jobs, sweeper
from calendars.jobs import (
    MAX_SENDS,
    QUEUE_UNAVAILABLE,
    calendar_exports_expire,
    calendar_exports_resend_stale,
    heartbeat,
)
from calendars.models import CalendarExport
from calendars.sweeper import sweep
from taskoverflow.celery import app as celery_app
from tests.support.processes import django_run
from tests.support.stack import stack_env

pytestmark = pytest.mark.django_db


def job(*, status: str, age: timedelta, sends: int = 1, **fields) -> CalendarExport:
    export = CalendarExport.objects.create(status=status, sends=sends, **fields)
    CalendarExport.objects.filter(pk=export.pk).update(updated_at=timezone.now() - age)
    return export


@pytest.fixture
def sent():
    with mock.patch.object(celery_app, "send_task") as send_task:
        yield send_task


@pytest.fixture
def limit(settings) -> timedelta:
    settings.ICAL_TIME_LIMIT = 60
    return timedelta(seconds=60)


@pytest.mark.parametrize("status", ["PENDING", "STARTED", "RETRY"])
def test_a_job_unfinished_past_the_time_limit_is_sent_again(sent, limit, status):
    export = job(status=status, age=limit + timedelta(seconds=1))

    assert calendar_exports_resend_stale() == 1

    export.refresh_from_db()
    assert export.status == "PENDING" and export.sends == 2
    assert sent.call_args.kwargs["task_id"] == str(export.id)
    assert sent.call_args.kwargs["args"] == [str(export.id)]


def test_a_started_job_whose_heartbeat_stopped_is_sent_again_at_once(
    sent, limit, settings
):
    settings.ICAL_HEARTBEAT_SECONDS = 5
    now = timezone.now()
    dead = job(status="STARTED", age=timedelta(seconds=20))
    alive = job(status="STARTED", age=timedelta(seconds=20))
    CalendarExport.objects.filter(pk=dead.pk).update(
        heartbeat_at=now - timedelta(seconds=16)
    )
    CalendarExport.objects.filter(pk=alive.pk).update(
        heartbeat_at=now - timedelta(seconds=4)
    )

    assert calendar_exports_resend_stale(now=now) == 1

    assert sent.call_args.kwargs["task_id"] == str(dead.id)
    alive.refresh_from_db()
    assert alive.status == "STARTED"


@pytest.mark.parametrize("missed, resent", [(2.9, False), (3.1, True)])
def test_three_missed_beats_and_no_fewer_mean_the_worker_is_gone(
    sent, limit, settings, missed, resent
):
    """Two missed beats may be a busy database; three mean a dead worker."""
    settings.ICAL_HEARTBEAT_SECONDS = 5
    now = timezone.now()
    export = job(status="STARTED", age=timedelta(seconds=20))  # within the limit
    CalendarExport.objects.filter(pk=export.pk).update(
        heartbeat_at=now - timedelta(seconds=missed * 5)
    )

    assert calendar_exports_resend_stale(now=now) == int(resent)


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_a_running_job_beats_until_it_ends(settings):
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    export = CalendarExport.objects.create(status="STARTED")

    def beat_at():
        return CalendarExport.objects.get(pk=export.pk).heartbeat_at

    with heartbeat(export_id=export.id):
        first = wait_for_beat(export.pk, after=None)
        assert wait_for_beat(export.pk, after=first) > first, "it beats while running"
    last = beat_at()
    time.sleep(20 * settings.ICAL_HEARTBEAT_SECONDS)
    assert beat_at() == last, "and stops when the job ends"


def wait_for_beat(pk, *, after, timeout: float = 10):
    """The job's heartbeat once it is later than `after`; waits are timeouts
    (the machine may be loaded), not a measure of speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beat = CalendarExport.objects.get(pk=pk).heartbeat_at
        if beat is not None and (after is None or beat > after):
            return beat
        time.sleep(0.02)
    raise AssertionError(f"no heartbeat after {after} within {timeout} s")


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_a_beat_is_for_its_own_job_only(settings):
    """Another running job's beat must stop when its worker dies."""
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    running, other = (CalendarExport.objects.create(status="STARTED") for _ in "ab")

    with heartbeat(export_id=running.id):
        wait_for_beat(running.pk, after=None)

    assert CalendarExport.objects.get(pk=other.pk).heartbeat_at is None


def _beat_threads() -> set[threading.Thread]:
    # The threads themselves, not their idents, which a new thread may reuse.
    return {t for t in threading.enumerate() if t.name.startswith("heartbeat")}


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_jobs_one_after_another_are_beaten_by_one_thread_of_the_process(settings):
    """A thread per job cost more than a small job's build; one thread serves."""
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    seen: set[threading.Thread] = set()
    for _ in range(3):
        export = CalendarExport.objects.create(status="STARTED")
        with heartbeat(export_id=export.id):
            wait_for_beat(export.pk, after=None)
            seen |= _beat_threads()

    assert len(seen) == 1


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_two_jobs_running_at_once_each_beat_until_their_own_end(settings):
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    outer, inner = (CalendarExport.objects.create(status="STARTED") for _ in "ab")

    with heartbeat(export_id=outer.id):
        with heartbeat(export_id=inner.id):
            wait_for_beat(inner.pk, after=None)
            wait_for_beat(outer.pk, after=None)
        inner_last = CalendarExport.objects.get(pk=inner.pk).heartbeat_at
        outer_beat = wait_for_beat(outer.pk, after=None)
        assert wait_for_beat(outer.pk, after=outer_beat) > outer_beat

    assert CalendarExport.objects.get(pk=inner.pk).heartbeat_at == inner_last


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_a_failed_beat_is_logged_and_the_next_beats_go_on(settings, caplog):
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    export = CalendarExport.objects.create(status="STARTED")
    real_update = QuerySet.update
    failures = []

    def blinking_update(queryset, **fields):
        if "heartbeat_at" in fields and not failures:
            failures.append(fields)
            raise OperationalError("the database blinked")
        return real_update(queryset, **fields)

    with mock.patch.object(QuerySet, "update", blinking_update):
        with heartbeat(export_id=export.id):
            beat = wait_for_beat(export.pk, after=None)

    assert failures and beat is not None, "the beat after the failed one went on"
    assert "the database blinked" in caplog.text


def test_jobs_within_their_time_limit_and_finished_ones_are_left_alone(sent, limit):
    long_ago = timezone.now() - limit * 10
    job(status="STARTED", age=limit - timedelta(seconds=5))
    # Finished jobs whose last beat is long past: beats matter only while running.
    job(status="SUCCESS", age=limit * 10, heartbeat_at=long_ago)
    job(status="FAILURE", age=limit * 10, heartbeat_at=long_ago)

    assert calendar_exports_resend_stale() == 0
    sent.assert_not_called()


def test_a_job_sent_too_often_ends_failure_instead(sent, limit):
    export = job(status="STARTED", age=limit * 2, sends=MAX_SENDS)

    assert calendar_exports_resend_stale() == 0

    export.refresh_from_db()
    assert export.status == "FAILURE"
    assert "Gave up" in export.error and "time limit 60 s" in export.error
    sent.assert_not_called()


def test_one_sweep_goes_on_past_jobs_it_gives_up_on_or_finds_taken(
    sent, limit, monkeypatch
):
    """In one pass: a job another sweeper took meanwhile and a job sent too
    often are passed over, and every other stale job is still sent."""
    taken = job(status="STARTED", age=limit * 4)
    job(status="STARTED", age=limit * 3, sends=MAX_SENDS)
    job(status="STARTED", age=limit * 2)
    job(status="PENDING", age=limit * 2)
    as_read = list(jobs.calendar_exports_stale(now=timezone.now()))
    CalendarExport.objects.filter(pk=taken.pk).update(updated_at=timezone.now())
    monkeypatch.setattr(jobs, "calendar_exports_stale", lambda **kwargs: as_read)

    assert calendar_exports_resend_stale() == 2
    assert sent.call_count == 2


def test_a_job_the_queue_refuses_on_resend_is_not_counted_and_ends_failure(sent, limit):
    sent.side_effect = OSError("the queue is gone")
    export = job(status="PENDING", age=limit * 2)

    assert calendar_exports_resend_stale() == 0

    export.refresh_from_db()
    assert export.status == "FAILURE" and export.error == QUEUE_UNAVAILABLE


def test_a_second_sweeper_finds_nothing_left_to_send(sent, limit):
    job(status="STARTED", age=limit * 2)
    assert calendar_exports_resend_stale() == 1
    assert calendar_exports_resend_stale() == 0
    assert sent.call_count == 1


@pytest.mark.django_db(False)  # the sweepers run on a PostgreSQL of their own
def test_concurrent_sweepers_on_postgresql_send_each_job_once(
    tmp_path, postgres_database
):
    """Sweepers that have all read the same stale jobs before any claims one
    (threads with their own connections): each job is claimed, and sent, once."""
    env = stack_env(tmp_path, postgres_database)

    result = django_run(
        "from tests.support.sweepers import concurrent_sweeps\n"
        "print(concurrent_sweeps(stale_jobs=20, sweepers=3))",
        env,
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) == 20


def test_fifo_resends_get_a_new_deduplication_id(sent, limit, settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = "ical.fifo"
    export = job(status="PENDING", age=limit * 2, sends=1)

    calendar_exports_resend_stale()

    assert sent.call_args.kwargs["MessageDeduplicationId"] == f"{export.id}-2"


def finished(*, days_ago: float, status: str = "SUCCESS") -> CalendarExport:
    export = CalendarExport.objects.create(status=status)
    name = default_storage.save(f"calendars/{export.id}.ics", ContentFile(b"x"))
    CalendarExport.objects.filter(pk=export.pk).update(
        file=name, finished_at=timezone.now() - timedelta(days=days_ago)
    )
    return CalendarExport.objects.get(pk=export.pk)


def test_finished_jobs_past_their_expiry_are_deleted_with_their_files(settings):
    settings.ICAL_RESULT_EXPIRY_DAYS = 7
    old = [finished(days_ago=8), finished(days_ago=30, status="FAILURE")]
    recent = finished(days_ago=6)
    running = CalendarExport.objects.create(status="STARTED")

    assert calendar_exports_expire(batch_size=1) == 2

    assert set(CalendarExport.objects.values_list("pk", flat=True)) == {
        recent.pk,
        running.pk,
    }
    for export in old:
        assert not default_storage.exists(export.file.name)
    assert default_storage.exists(recent.file.name)


def test_an_expired_job_answers_404(client, settings):
    settings.ICAL_RESULT_EXPIRY_DAYS = 1
    export = finished(days_ago=2)
    calendar_exports_expire()
    for endpoint in ("status", "result"):
        response = client.get(f"/api/v1/todos/ical/{export.id}/{endpoint}")
        assert response.status_code == 404


@pytest.mark.django_db(transaction=True)  # the pass runs in a thread of its own
def test_an_expiring_sweep_pass_deletes_expired_jobs(settings):
    settings.ICAL_RESULT_EXPIRY_DAYS = 7
    old, recent = finished(days_ago=8), finished(days_ago=1)

    in_a_thread(lambda: sweep(expire=True))

    assert list(CalendarExport.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not default_storage.exists(old.file.name)


def in_a_thread(work) -> None:
    """As in the worker: a pass closes its thread's own connection."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)


def test_a_sweep_pass_logs_its_errors_and_never_raises(monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("calendars.sweeper.calendar_exports_resend_stale", broken)
    outcome = []
    in_a_thread(lambda: outcome.append(sweep(expire=False)))

    assert outcome == [None]  # it returned: the next pass tries again
    assert "calendar sweep failed" in caplog.text
    assert "database on fire" in caplog.text


def test_the_loop_expires_on_its_first_pass_then_hourly_and_sweeps_every_interval(
    monkeypatch,
):
    passes: list[bool] = []
    stopped = threading.Event()

    def recorded(*, expire: bool) -> None:
        passes.append(expire)
        if len(passes) == 4:
            stopped.set()

    monkeypatch.setattr(sweeper, "sweep", recorded)
    sweeper.run(0.01, stopped)

    assert passes == [True, False, False, False]


def test_a_sweep_interval_of_0_starts_no_sweeper(settings):
    settings.ICAL_SWEEP_INTERVAL = 0
    before = threading.active_count()

    sweeper.start()

    assert threading.active_count() == before


def test_a_ready_worker_starts_the_sweeper_and_a_stopping_one_stops_it(
    monkeypatch, settings
):
    import calendars.tasks  # noqa: F401 - where the worker's hooks are connected

    settings.ICAL_SWEEP_INTERVAL = 0.01
    swept = threading.Event()
    monkeypatch.setattr(sweeper, "sweep", lambda *, expire: swept.set())

    worker_ready.send(sender=None)
    try:
        assert swept.wait(timeout=10), "the worker_ready hook started the sweeper"
    finally:
        worker_shutting_down.send(sender=None, sig="TERM", how="warm", exitcode=0)
    assert sweeper._stop.is_set()
