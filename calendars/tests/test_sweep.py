"""The sweep sends again jobs stuck past their time limit, and expires old ones."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from calendars.jobs import (
    MAX_SENDS,
    calendar_exports_expire,
    calendar_exports_resend_stale,
    heartbeat,
)
from calendars.models import CalendarExport
from calendars.sweeper import sweep
from taskoverflow.celery import app as celery_app

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


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread
def test_a_running_job_beats_until_it_ends(settings):
    settings.ICAL_HEARTBEAT_SECONDS = 0.05
    export = CalendarExport.objects.create(status="STARTED")

    def beat_at():
        return CalendarExport.objects.get(pk=export.pk).heartbeat_at

    with heartbeat(export_id=export.id):
        time.sleep(0.3)
        first = beat_at()
        time.sleep(0.2)
        assert first is not None and beat_at() > first, "it beats while running"
    last = beat_at()
    time.sleep(0.3)
    assert beat_at() == last, "and stops when the job ends"


def test_jobs_within_their_time_limit_and_finished_ones_are_left_alone(sent, limit):
    job(status="STARTED", age=limit - timedelta(seconds=5))
    job(status="SUCCESS", age=limit * 10)
    job(status="FAILURE", age=limit * 10)

    assert calendar_exports_resend_stale() == 0
    sent.assert_not_called()


def test_a_job_sent_too_often_ends_failure_instead(sent, limit):
    export = job(status="STARTED", age=limit * 2, sends=MAX_SENDS)

    assert calendar_exports_resend_stale() == 0

    export.refresh_from_db()
    assert export.status == "FAILURE"
    assert "Gave up" in export.error and "time limit 60 s" in export.error
    sent.assert_not_called()


def test_a_second_sweeper_finds_nothing_left_to_send(sent, limit):
    job(status="STARTED", age=limit * 2)
    assert calendar_exports_resend_stale() == 1
    assert calendar_exports_resend_stale() == 0
    assert sent.call_count == 1


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


def test_a_sweep_pass_logs_its_errors_and_never_raises(monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("calendars.sweeper.calendar_exports_resend_stale", broken)
    outcome = []
    # In a thread of its own, as in the worker (it closes its thread's connection).
    thread = threading.Thread(target=lambda: outcome.append(sweep(expire=False)))
    thread.start()
    thread.join(timeout=10)

    assert outcome == [None]  # it returned: the next pass tries again
    assert "calendar sweep failed" in caplog.text
    assert "database on fire" in caplog.text
