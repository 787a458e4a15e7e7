"""Celery tasks: entry points that take ids, call a service and record the outcome.

The worker's periodic work (the sweep) is hooked up at the end of this module.
"""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready, worker_shutting_down
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created

from calendars import sweeper
from calendars.feeds import FEED_TASK, calendar_feed_refresh
from calendars.jobs import (
    ICAL_TASK,
    calendar_export_build,
    calendar_export_fail,
    calendar_export_mark,
)
from calendars.models import CalendarExport

DATABASE_CONNECTION_ERRORS = (InterfaceError, OperationalError)
MAX_RETRIES = 3


@shared_task(name=ICAL_TASK, bind=True, max_retries=MAX_RETRIES)
def ical_task(
    self, export_id: str, completed: bool | None = None, window: int | None = None
) -> dict:
    """Build the calendar of one export job. Named `ical`: part of the contract."""
    try:
        export = calendar_export_build(
            export_id=export_id,
            completed=completed,
            window=window,
            delay=settings.ICAL_SIMULATED_DELAY,
        )
    except DATABASE_CONNECTION_ERRORS as error:
        # The database went away for a moment: try again, a bounded number of
        # times, waiting longer each time.
        if self.request.retries >= MAX_RETRIES:
            _fail(export_id, f"The database did not answer: {error}")
            raise
        _try_mark_retry(export_id)
        raise self.retry(exc=error, countdown=2**self.request.retries) from error
    except SoftTimeLimitExceeded:
        _fail(export_id, f"Took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT} s.")
        raise
    except Exception as error:
        _fail(export_id, short_reason(error))
        raise
    if export is None:
        return {"export_id": export_id, "status": "UNKNOWN"}
    return {
        "export_id": export_id,
        "status": export.status,
        "events": export.event_count,
    }


def short_reason(error: BaseException) -> str:
    """One line for a person: the kind of error and its message, no traceback."""
    message = " ".join(str(error).split())
    reason = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return reason[:200]


def _fail(export_id: str, reason: str) -> None:
    try:
        export = CalendarExport.objects.filter(pk=export_id).first()
        if export is not None:
            calendar_export_fail(export=export, reason=reason)
    except DATABASE_CONNECTION_ERRORS:
        pass  # nothing to record it in; the result backend still has the error


def _try_mark_retry(export_id: str) -> None:
    try:
        calendar_export_mark(export_id=export_id, status=CalendarExport.Status.RETRY)
    except DATABASE_CONNECTION_ERRORS:
        pass  # the database is what failed; the retry will record the outcome


@shared_task(name=FEED_TASK)
def feed_task(feed_id: int) -> dict:
    """Rebuild a calendar feed once its todos stop changing (calendars/feeds.py)."""
    return {"feed_id": feed_id, "outcome": calendar_feed_refresh(feed_id=feed_id)}


# --- The worker's database connections -----------------------------------------
# A job commits its row three times (started, built, and Celery's result).
# Waiting for each commit to reach the disk was the largest part of a small
# job's time in the worker (docs/benchmarks.md). A worker's commits do not wait
# for the disk: should PostgreSQL itself crash, the last moment's job updates
# may be lost, and then the sweep sends the job again (its row is still
# STARTED or PENDING), so no job is lost. The web server's commits, which a
# client's answer depends on, still wait.
def commit_without_waiting_for_disk(sender, connection, **kwargs) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")


@worker_process_init.connect
def _pool_process_commits_asynchronously(**kwargs) -> None:
    connection_created.connect(commit_without_waiting_for_disk, weak=False)


# --- Periodic work ---------------------------------------------------------------
# Every worker sweeps, from a thread of its own, for jobs whose worker died and
# for expired jobs (calendars/sweeper.py), every ICAL_SWEEP_INTERVAL seconds.
# Not Celery beat: beat is one more process that must run exactly once (none
# and nothing is swept, two and every tick runs twice), which the one-command
# embedded default and an autoscaled worker service would both have to
# arrange. A sweep in every worker needs nothing more, and the sweep is safe to
# run from many workers at once.
worker_ready.connect(sweeper.start, weak=False)
worker_shutting_down.connect(sweeper.stop, weak=False)
