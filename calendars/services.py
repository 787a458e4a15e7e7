"""Functions that write calendar exports: create and queue a job, build it, fail it."""

import logging
import time
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from calendars.ical import TodoEntry, calendar_ics
from calendars.models import CalendarExport
from todos.selectors import todo_list

logger = logging.getLogger(__name__)

Status = CalendarExport.Status
QUEUE_UNAVAILABLE = "Could not queue the job: the job queue is unavailable."


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
    from calendars.tasks import ical_task  # tasks import this module

    options: dict[str, str] = {"task_id": str(export.id)}
    if settings.CELERY_TASK_DEFAULT_QUEUE.endswith(".fifo"):
        # SQS FIFO: kombu would put every job in one group "default" (one at a
        # time) and a random deduplication id (a resend would not be caught).
        # Jobs are independent, so each is its own group; its id dedupes it.
        options["MessageGroupId"] = str(export.id)
        options["MessageDeduplicationId"] = str(export.id)
    try:
        ical_task.apply_async(
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
    _set_status(export, Status.STARTED, started_at=timezone.now())
    if delay > 0:
        time.sleep(delay)

    entries = calendar_entries(
        completed=completed, window=window, requested_at=export.created_at
    )
    ics = calendar_ics(entries)

    name = f"calendars/{export.id}.ics"
    default_storage.delete(name)
    export.file.name = default_storage.save(name, ContentFile(ics))
    export.event_count = len(entries)
    _set_status(export, Status.SUCCESS, finished_at=timezone.now())
    return export


def calendar_entries(
    *, completed: bool | None, window: int | None, requested_at: datetime
) -> list[TodoEntry]:
    """The todos a job covers that have a deadline, read as of the request."""
    rows = (
        todo_list(completed=completed, window=window, now=requested_at)
        .filter(deadline_at__isnull=False)
        .values_list(
            "id", "title", "description", "completed", "deadline_at", "updated_at"
        )
    )
    return [TodoEntry(*row) for row in rows.iterator(chunk_size=2000)]


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
