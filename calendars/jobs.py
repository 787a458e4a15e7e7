"""A calendar job's lifecycle: created, queued, built (with a heartbeat), failed,
swept when its worker is gone, expired.

The job is a row of our own, written before its message is sent; the message
goes to the task by its name (`ical`, part of the contract), so this module
never imports the task module, which calls it.
"""

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calendars.ical import TodoRow, calendar_row_chunks
from calendars.models import CalendarExport
from calendars.selectors import calendar_rows
from calendars.storage import calendar_file_delete, calendar_file_save

logger = logging.getLogger(__name__)

Status = CalendarExport.Status
ICAL_TASK = "ical"  # the task's name: part of the contract
QUEUE_UNAVAILABLE = "Could not queue the job: the job queue is unavailable."
# A job is sent at most this many times in all: the first send and the sweep's.
MAX_SENDS = 3
UNFINISHED = (Status.PENDING, Status.STARTED, Status.RETRY)


def calendar_export_create(
    *, completed: bool | None = None, window: int | None = None
) -> CalendarExport:
    """Record a job, then queue it once the row is committed.

    When the queue cannot take the message the job ends FAILURE at once, with a
    reason, rather than staying PENDING for ever.
    """
    with transaction.atomic():
        export = CalendarExport.objects.create(completed=completed, window=window)
        transaction.on_commit(lambda: calendar_export_enqueue(export=export))
    return export


def calendar_export_enqueue(*, export: CalendarExport) -> bool:
    """Send the job's message: its id and filters, never the todos themselves."""
    sends = CalendarExport.objects.filter(pk=export.pk).update(sends=F("sends") + 1)
    export.sends += sends
    options: dict[str, str] = {"task_id": str(export.id)}
    if settings.CELERY_TASK_DEFAULT_QUEUE.endswith(".fifo"):
        # SQS FIFO: kombu would put every job in one group "default" (one at a
        # time) and a random deduplication id (a repeated send would not be
        # caught). Jobs are independent, so each is its own group, and each send
        # of a job its own deduplication id: the sweep's resend must go through.
        options["MessageGroupId"] = str(export.id)
        options["MessageDeduplicationId"] = f"{export.id}-{export.sends}"
    try:
        current_app.send_task(
            ICAL_TASK,
            args=[str(export.id)],
            kwargs={"completed": export.completed, "window": export.window},
            **options,
        )
    except Exception:
        logger.exception("could not queue calendar export %s", export.id)
        calendar_export_fail(export=export, reason=QUEUE_UNAVAILABLE)
        return False
    return True


def calendar_export_build(
    *,
    export_id: UUID | str,
    completed: bool | None,
    window: int | None,
    delay: float = 0,
) -> CalendarExport | None:
    """Build and store the calendar of a job; None when there is no such job.

    Idempotent: a job delivered again after it succeeded is left as it is, and a
    job built again overwrites its file rather than adding one.
    """
    export = CalendarExport.objects.filter(pk=export_id).first()
    if export is None or export.status == Status.SUCCESS:
        return export
    now = timezone.now()
    _set_status(export, Status.STARTED, started_at=now, heartbeat_at=now)
    events = 0

    def counted(rows: Iterable[TodoRow]) -> Iterator[TodoRow]:
        nonlocal events
        for row in rows:
            events += 1
            yield row

    with heartbeat(export_id=export.id):
        if delay > 0:
            time.sleep(delay)
        rows = calendar_rows(
            completed=completed, window=window, requested_at=export.created_at
        )
        stored = calendar_file_save(
            name=f"calendars/{export.id}.ics",
            chunks=calendar_row_chunks(counted(rows)),
        )

    export.file.name = stored.name
    export.file_size = stored.size
    export.sha256 = stored.sha256
    export.event_count = events
    _set_status(export, Status.SUCCESS, finished_at=timezone.now())
    return export


@contextmanager
def heartbeat(*, export_id: UUID) -> Iterator[None]:
    """Beat for a running job, from a thread, until the block ends.

    The beat stops when the process dies, which is the point: the sweep tells a
    job whose worker was killed from one that is merely slow.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.ICAL_HEARTBEAT_SECONDS):
                CalendarExport.objects.filter(
                    pk=export_id, status=Status.STARTED
                ).update(heartbeat_at=timezone.now())
        except Exception:
            logger.exception("heartbeat of calendar export %s failed", export_id)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{export_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def calendar_export_fail(*, export: CalendarExport, reason: str) -> None:
    export.error = reason[: CalendarExport._meta.get_field("error").max_length]
    _set_status(export, Status.FAILURE, finished_at=timezone.now())


def calendar_export_mark(*, export_id: UUID | str, status: str) -> None:
    """Set a job's status by id, unless it has already finished."""
    CalendarExport.objects.filter(pk=export_id).exclude(
        status__in=CalendarExport.FINISHED
    ).update(status=status, updated_at=timezone.now())


def _set_status(export: CalendarExport, status: str, **fields) -> None:
    export.status = status
    for name, value in fields.items():
        setattr(export, name, value)
    export.save()


def calendar_exports_stale(*, now: datetime) -> "QuerySet[CalendarExport]":
    """Unfinished jobs that nothing is working on.

    STARTED with a heartbeat three beats old: its worker was killed. Queued
    (PENDING or RETRY) past the time limit: its message may be lost (a killed
    worker on the filesystem broker) or hidden until a long visibility timeout
    ends (Redis, SQS). No job runs past the hard time limit in any case.
    """
    dead_before = now - timedelta(seconds=3 * settings.ICAL_HEARTBEAT_SECONDS)
    queued_before = now - timedelta(seconds=settings.ICAL_TIME_LIMIT)
    return CalendarExport.objects.filter(
        Q(status=Status.STARTED, heartbeat_at__lt=dead_before)
        | Q(status__in=UNFINISHED, updated_at__lt=queued_before)
    ).order_by("updated_at")


def calendar_exports_resend_stale(*, now: datetime | None = None) -> int:
    """Send again the jobs nothing is working on (see calendar_exports_stale).

    After MAX_SENDS a job ends FAILURE instead. Safe with many sweepers: each
    job is claimed by a conditional update, and one that finished meanwhile is
    left alone; a job delivered twice builds the same file twice, no more.
    """
    now = now or timezone.now()
    stale = calendar_exports_stale(now=now)
    resent = 0
    for export in stale[:500]:
        claimed = CalendarExport.objects.filter(
            pk=export.pk, status=export.status, updated_at=export.updated_at
        ).update(status=Status.PENDING, updated_at=now, heartbeat_at=None)
        if not claimed:
            continue  # another sweeper took it, or it finished
        export.refresh_from_db()
        if export.sends >= MAX_SENDS:
            calendar_export_fail(
                export=export,
                reason=f"Gave up: sent {export.sends} times and never finished "
                f"(time limit {settings.ICAL_TIME_LIMIT} s).",
            )
            continue
        logger.warning("sending calendar export %s again", export.id)
        if calendar_export_enqueue(export=export):
            resent += 1
    return resent


def calendar_exports_expire(
    *, now: datetime | None = None, batch_size: int = 500
) -> int:
    """Delete finished jobs, and their files, older than ICAL_RESULT_EXPIRY_DAYS.

    Deletes in batches, so a large backlog never holds one long transaction.
    An expired job's status and result answer 404, as for a job never issued.
    """
    now = now or timezone.now()
    expired_before = now - timedelta(days=settings.ICAL_RESULT_EXPIRY_DAYS)
    deleted = 0
    while True:
        batch = list(
            CalendarExport.objects.filter(
                status__in=CalendarExport.FINISHED, finished_at__lt=expired_before
            ).values_list("pk", "file")[:batch_size]
        )
        if not batch:
            return deleted
        for _, name in batch:
            if name:
                calendar_file_delete(name)
        CalendarExport.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
        deleted += len(batch)
