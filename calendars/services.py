"""Functions that write calendar exports: create and queue a job, build it, fail it."""

import hashlib
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import CharField, F, Func
from django.utils import timezone

from calendars.ical import TodoRow, calendar_row_chunks
from calendars.models import CalendarExport
from todos.selectors import todo_list

logger = logging.getLogger(__name__)

Status = CalendarExport.Status
QUEUE_UNAVAILABLE = "Could not queue the job: the job queue is unavailable."
ROWS_PER_FETCH = 2000
WRITE_BLOCK_BYTES = 256 * 1024


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

    events = 0

    def counted(rows: Iterable[TodoRow]) -> Iterator[TodoRow]:
        nonlocal events
        for row in rows:
            events += 1
            yield row

    rows = calendar_rows(
        completed=completed, window=window, requested_at=export.created_at
    )
    stored = calendar_file_save(
        name=f"calendars/{export.id}.ics", chunks=calendar_row_chunks(counted(rows))
    )

    export.file.name = stored.name
    export.file_size = stored.size
    export.sha256 = stored.sha256
    export.event_count = events
    _set_status(export, Status.SUCCESS, finished_at=timezone.now())
    return export


class UtcStamp(Func):
    """A date-time column as iCalendar writes it in UTC: 20230102T030405Z.

    The database writes it far faster than Python reads a date-time and writes
    it out again (Django reads a PostgreSQL timestamptz through a loader written
    in Python): measured here, 100,000 events took half the time. Fractions of a
    second are dropped, never rounded, as `calendars.ical.format_utc` does.
    """

    arity = 1
    output_field = CharField()
    template = (
        "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')"
    )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django keeps SQLite date-times as UTC text, 2023-01-02 03:04:05.999999;
        # SQLite's date functions round to milliseconds (that one would become
        # 03:04:06), so the fraction is cut off first.
        return self.as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y%%%%m%%%%dT%%%%H%%%%M%%%%SZ', "
            "substr(%(expressions)s, 1, 19))",
            **extra_context,
        )


def calendar_rows(
    *, completed: bool | None, window: int | None, requested_at: datetime
) -> Iterator[TodoRow]:
    """The todos a job covers that have a deadline, read as of the request.

    Rows come a chunk at a time, only the columns a calendar needs, its times
    already written by the database: memory stays flat however many todos
    there are.
    """
    return (
        todo_list(completed=completed, window=window, now=requested_at)
        .filter(deadline_at__isnull=False)
        .annotate(
            deadline_stamp=UtcStamp(F("deadline_at")),
            updated_stamp=UtcStamp(F("updated_at")),
        )
        .values_list(
            "id",
            "title",
            "description",
            "completed",
            "deadline_stamp",
            "updated_stamp",
        )
        .iterator(chunk_size=ROWS_PER_FETCH)
    )


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    sha256: str


def calendar_file_save(*, name: str, chunks: Iterable[bytes]) -> StoredFile:
    """Write chunks to the default storage as `name`, replacing any file there.

    The chunks go to a temporary file as they come (never one big string), which
    is then handed to the storage API; its size and SHA-256 are taken on the way.
    """
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile(prefix="calendar-") as spool:
        for block in _blocks(chunks, WRITE_BLOCK_BYTES):
            spool.write(block)
            digest.update(block)
            size += len(block)
        spool.seek(0)
        # Built again (a redelivered job): overwrite, never add a second file.
        default_storage.delete(name)
        saved_name = default_storage.save(name, File(spool, name=name))
    return StoredFile(name=saved_name, size=size, sha256=digest.hexdigest())


def _blocks(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Small chunks gathered into blocks of about `size` bytes, for fewer writes."""
    pending: list[bytes] = []
    pending_bytes = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= size:
            yield b"".join(pending)
            pending.clear()
            pending_bytes = 0
    if pending:
        yield b"".join(pending)


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
