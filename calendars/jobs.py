"""A calendar job's lifecycle: created, queued, built (with a heartbeat), failed,
swept when its worker is gone, expired; and the room its calendars take.

The job is a row of our own, written before its message is sent; the message
goes to the task by its name (`ical`, part of the contract), so this module
never imports the task module, which calls it.

Calendars are stored by their content (calendars/<sha256>.ics), so jobs with
identical calendars share one file, deleted once no job points at it. Storing
a file and pointing a job at it, and deleting a file no job points at, each
hold a lock named after the file, so neither can slip between the other's
check and its act.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import datetime, timedelta
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import connection, connections, router, transaction
from django.db.models import F, Max, Q, QuerySet, Sum
from django.utils import timezone

from api.compiled import (
    Before,
    can_write_along,
    instance_of_row,
    save_row,
    update_sql,
)
from calendars.ical import calendar_row_chunks
from calendars.models import CalendarExport
from calendars.selectors import (
    CountedRows,
    calendar_export_by_id,
    calendar_export_donor,
    calendar_rows,
    with_donor_sql,
)
from calendars.storage import (
    calendar_file_delete,
    calendar_file_store,
    calendar_files_stored,
    calendar_spool,
)

logger = logging.getLogger(__name__)

Status = CalendarExport.Status
ICAL_TASK = "ical"  # the task's name: part of the contract
QUEUE_UNAVAILABLE = "Could not queue the job: the job queue is unavailable."
# A job is sent at most this many times in all: the first send and the sweep's.
MAX_SENDS = 3
UNFINISHED = (Status.PENDING, Status.STARTED, Status.RETRY)
# Where a row of every_column(CalendarExport) has the id, which is never NULL.
_ID_COLUMN = CalendarExport._meta.concrete_fields.index(CalendarExport._meta.pk)


class TooManyWaiting(Exception):
    """The client already has as many unfinished jobs as one client may."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        super().__init__(
            f"You have {waiting} calendar jobs waiting, as many as one client "
            "may; ask again once one has finished."
        )


def calendar_export_create(
    *,
    completed: bool | None = None,
    window: int | None = None,
    client: str = "",
    owner: AbstractBaseUser | None = None,
) -> CalendarExport:
    """Record a job, then queue it once the row is committed.

    TooManyWaiting when `client` already has ICAL_MAX_QUEUED_PER_CLIENT
    unfinished jobs (counted under a lock of the client's, so that a burst of
    requests cannot all count before any is recorded). When the queue cannot
    take the message the job ends FAILURE at once, with a reason, rather than
    staying PENDING for ever.
    """
    cap = settings.ICAL_MAX_QUEUED_PER_CLIENT
    # With a cap, the count and the new row share a transaction, under the
    # client's lock; without one, the row is a statement of its own (two round
    # trips fewer), sent once it is committed all the same.
    with transaction.atomic() if cap else nullcontext():
        if cap:
            _lock(f"calendar client {client}")
            waiting = CalendarExport.objects.filter(
                client=client, status__in=UNFINISHED
            ).count()
            if waiting >= cap:
                raise TooManyWaiting(waiting)
        # The first send is counted in the row itself: one commit, not two,
        # before the client has its answer.
        export = CalendarExport(
            completed=completed, window=window, client=client, owner=owner, sends=1
        )
        save_row(export)
        transaction.on_commit(lambda: _send(export))
    return export


def _start(export_id: UUID | str) -> CalendarExport | None:
    """The job, marked STARTED now (its first heartbeat too) unless it has
    succeeded already; None when there is no such job.

    A worker's first statement of each job: read and marked in one UPDATE ...
    RETURNING, where a read and then a write took two round trips and two
    statements' Python (docs/benchmarks.md). A job that has succeeded is read
    as it is, and left so.
    """
    export, _ = _start_statement(export_id, with_donor=False)
    return export


def _start_finding_donor(
    export_id: UUID | str,
) -> tuple[CalendarExport | None, CalendarExport | None]:
    """_start(), and the job's donor (calendar_export_donor) unless the job
    has succeeded: on PostgreSQL in the same statement, one round trip where
    the look for a donor took another (docs/benchmarks.md)."""
    connection = connections[router.db_for_write(CalendarExport)]
    if can_write_along(connection):
        return _start_statement(export_id, with_donor=True)
    export = _start(export_id)
    if export is None or export.status == Status.SUCCESS:
        return export, None
    return export, calendar_export_donor(export=export)


def _start_statement(
    export_id: UUID | str, *, with_donor: bool
) -> tuple[CalendarExport | None, CalendarExport | None]:
    connection = connections[router.db_for_write(CalendarExport)]
    if not connection.features.can_return_columns_from_insert:  # no RETURNING
        export = calendar_export_by_id(export_id)
        if export is not None and export.status != Status.SUCCESS:
            now = timezone.now()
            _set_status(export, Status.STARTED, started_at=now, heartbeat_at=now)
        return export, None
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    job = CalendarExport._meta.pk.get_db_prep_value(UUID(str(export_id)), connection)
    sql = update_sql(
        CalendarExport,
        connection.alias,
        ("status", "started_at", "heartbeat_at", "updated_at"),
        (("id", "="), ("status", "<>")),
        returning=True,
    )
    params = [str(Status.STARTED), now, now, now, job, str(Status.SUCCESS)]
    if with_donor:
        sql = with_donor_sql(sql, connection.alias)
        params.append(str(Status.SUCCESS))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:  # no such job, or one that has succeeded
        return calendar_export_by_id(export_id), None
    columns = len(CalendarExport._meta.concrete_fields)
    export = instance_of_row(CalendarExport, connection.alias, row[:columns])
    found = row[columns:]
    if not found or found[_ID_COLUMN] is None:  # no donor: every column NULL
        return export, None
    return export, instance_of_row(CalendarExport, connection.alias, found)


def calendar_export_enqueue(*, export: CalendarExport) -> bool:
    """Send the job's message again (the sweep's resend), counting the send."""
    sends = CalendarExport.objects.filter(pk=export.pk).update(sends=F("sends") + 1)
    export.sends += sends
    return _send(export)


def _send(export: CalendarExport) -> bool:
    """Send the job's message: its id and filters, never the todos themselves."""
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

    The calendar holds the todos as they were at one moment after the job was
    asked for (calendar_rows); `window` counts from the time of the request.
    A job with the same filters and no window whose todos were read after this
    job was asked for already made that calendar: it is reused, not built
    again. Past the storage budget the oldest calendars go
    (calendar_storage_trim), once this job's calendar adds a file.

    Idempotent: a job delivered again after it succeeded is left as it is, and
    a job built again stores nothing new for the same todos.
    """
    export, donor = _start_finding_donor(export_id)
    if export is None or export.status == Status.SUCCESS:
        return export
    with heartbeat(export_id=export.id), ExitStack() as spooled_files:
        if delay > 0:
            time.sleep(delay)
            # A donor may have finished meanwhile: looked for again.
            donor = calendar_export_donor(export=export)
        if donor is not None and _reuse(export, donor):
            return export
        read_at = timezone.now()  # the rows below are read after this
        rows = CountedRows(
            calendar_rows(
                completed=completed,
                window=window,
                requested_at=export.created_at,
                owner=export.owner_id,
            )
        )
        spooled = spooled_files.enter_context(calendar_spool(calendar_row_chunks(rows)))
        budget = settings.ICAL_STORAGE_BUDGET_BYTES
        if spooled.size > budget:
            calendar_export_fail(
                export=export,
                reason=f"The calendar is {spooled.size:,} bytes, more than the "
                f"whole storage budget ({budget:,} bytes: ICAL_STORAGE_BUDGET_MB).",
            )
            return export
        # The row points at the file and the file is stored under its lock,
        # in one transaction: a release of the same file (a trim, an expiry)
        # waits, and then sees this job point at it.
        with transaction.atomic():
            _succeed(
                export,
                name=spooled.name,
                size=spooled.size,
                sha256=spooled.sha256,
                events=rows.count,
                read_at=read_at,
                locking=True,
            )
            added = calendar_file_store(spooled)
    # Storage grows only by a file added: the calendar of todos that have not
    # changed since it was last built is stored already, and then the trim's
    # sum of every stored calendar, after each job, is spared.
    if added:
        calendar_storage_trim(keep=export.file.name)
    return export


def _reuse(export: CalendarExport, donor: CalendarExport) -> bool:
    """Point the job at the donor's calendar, if it is still stored."""
    with transaction.atomic():
        _lock(donor.file.name)
        if not default_storage.exists(donor.file.name):
            return False  # expired or trimmed meanwhile: build it after all
        _succeed(
            export,
            name=donor.file.name,
            size=donor.file_size,
            sha256=donor.sha256,
            events=donor.event_count,
            read_at=donor.read_at,
        )
    logger.info("calendar export %s reuses the calendar of %s", export.id, donor.id)
    return True


def _succeed(
    export: CalendarExport,
    *,
    name: str,
    size: int | None,
    sha256: str,
    events: int | None,
    read_at: datetime | None,
    locking: bool = False,
) -> None:
    """The job's SUCCESS, with its calendar `name`; `locking`: taking the lock
    of `name` first, in the same statement (on PostgreSQL; SQLite needs no
    lock, as _lock says)."""
    fields = {
        "file": name,
        "file_size": size,
        "sha256": sha256,
        "event_count": events,
        "read_at": read_at,
        "finished_at": timezone.now(),
    }
    lock = locking and can_write_along(connection)
    before = Before(*_lock_statement(name)) if lock else None
    _set_status(export, Status.SUCCESS, before=before, **fields)


def _lock(name: str) -> None:
    """Hold the lock `name` until the transaction ends, in every process: on
    PostgreSQL an advisory lock; on SQLite each write transaction (BEGIN
    IMMEDIATE, see settings.py) already runs alone."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*_lock_statement(name))


def _lock_statement(name: str) -> tuple[str, tuple[str]]:
    return "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,)


@contextmanager
def heartbeat(*, export_id: UUID) -> Iterator[None]:
    """Beat for a running job, from a thread, until the block ends.

    The beat stops when the process dies, which is the point: the sweep tells a
    job whose worker was killed from one that is merely slow. One thread per
    process beats for every job running in it (_Heartbeats): starting a thread
    for each job took 0.6 ms of a 10-todo job's way to SUCCESS
    (docs/benchmarks.md).
    """
    _heartbeats.add(export_id)
    try:
        yield
    finally:
        _heartbeats.remove(export_id)


class _Heartbeats:
    """The jobs running in this process, each beaten every
    ICAL_HEARTBEAT_SECONDS (as that setting is when it starts and after each
    of its beats) by one thread, started on first use and again after a fork;
    the thread waits, beating nothing, while no job runs."""

    def __init__(self) -> None:
        self._next_beat: dict[UUID, float] = {}  # job -> time.monotonic()
        self._changed = threading.Condition()
        self._beating = threading.Lock()  # held while beats are written
        self._thread: threading.Thread | None = None

    def add(self, export_id: UUID) -> None:
        with self._changed:
            self._next_beat[export_id] = (
                time.monotonic() + settings.ICAL_HEARTBEAT_SECONDS
            )
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._beat_for_ever, name="heartbeats", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def remove(self, export_id: UUID) -> None:
        """Once this returns, the job gets no more beats: one being written
        is waited for."""
        with self._beating, self._changed:
            self._next_beat.pop(export_id, None)

    def _beat_for_ever(self) -> None:
        while True:
            due = self._wait_for_due()
            with self._beating:
                for export_id in due:
                    if export_id in self._next_beat:  # still running
                        _beat_once(export_id)
                # The thread's own connection is closed after each round and
                # opened again by the next: none is left open while no job runs.
                connection.close()

    def _wait_for_due(self) -> list[UUID]:
        """The jobs whose beat is due, once there are any; each one's next
        beat is then set."""
        with self._changed:
            while True:
                now = time.monotonic()
                due = [job for job, at in self._next_beat.items() if at <= now]
                if due:
                    for job in due:
                        self._next_beat[job] = now + settings.ICAL_HEARTBEAT_SECONDS
                    return due
                soonest = min(self._next_beat.values(), default=None)
                self._changed.wait(None if soonest is None else soonest - now)


_heartbeats = _Heartbeats()


def _beat_once(export_id: UUID) -> None:
    """One beat. A failed one is logged and the thread beats on: a database
    that blinked must not make a running job look dead to the sweep."""
    try:
        CalendarExport.objects.filter(pk=export_id, status=Status.STARTED).update(
            heartbeat_at=timezone.now()
        )
    except Exception:
        logger.exception("a heartbeat of calendar export %s failed", export_id)
        connection.close()  # a broken connection is reopened by the next beat


def calendar_export_fail(*, export: CalendarExport, reason: str) -> None:
    error = reason[: CalendarExport._meta.get_field("error").max_length]
    _set_status(export, Status.FAILURE, error=error, finished_at=timezone.now())


def calendar_export_mark(*, export_id: UUID | str, status: str) -> None:
    """Set a job's status by id, unless it has already finished."""
    CalendarExport.objects.filter(pk=export_id).exclude(
        status__in=CalendarExport.FINISHED
    ).update(status=status, updated_at=timezone.now())


def _set_status(
    export: CalendarExport, status: str, *, before: Before | None = None, **fields
) -> None:
    """The job's status and these fields, written alone (with updated_at):
    nothing else of the row, such as the sweep's count of sends, is written
    back as this process last read it. `before`: run in the same statement,
    first (api/compiled.statement_before)."""
    export.status = status
    for name, value in fields.items():
        setattr(export, name, value)
    save_row(export, update_fields=["status", *fields, "updated_at"], before=before)


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
    """Delete finished jobs older than ICAL_RESULT_EXPIRY_DAYS, and the files no
    job points at any more (also those a killed worker stored and never
    recorded).

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
            break
        CalendarExport.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
        for name in {name for _, name in batch if name}:
            calendar_file_release(name)
        deleted += len(batch)
    pointed_at = set(
        CalendarExport.objects.exclude(file="").values_list("file", flat=True)
    )
    for name in calendar_files_stored():
        if name not in pointed_at:
            calendar_file_release(name)
    return deleted


def calendar_file_release(name: str) -> bool:
    """Delete a stored calendar unless a job points at it; whether it went."""
    with transaction.atomic():
        _lock(name)
        if CalendarExport.objects.filter(file=name).exists():
            return False
        calendar_file_delete(name)
    return True


def calendar_storage_used() -> int:
    """Bytes of the calendars that jobs point at, each file counted once."""
    # Summed by the database, one row per file: a week of jobs need not cross
    # into Python after each job.
    per_file = (
        CalendarExport.objects.exclude(file="")
        .values("file")
        .annotate(size=Max("file_size"))
    )
    return per_file.aggregate(total=Sum("size"))["total"] or 0


def calendar_storage_trim(*, keep: str = "", batch_size: int = 100) -> int:
    """Past ICAL_STORAGE_BUDGET_BYTES, delete the oldest finished jobs first,
    and their files once no job points at them, until the calendars fit; never
    the file `keep` (the one just stored). The number of jobs deleted."""
    budget = settings.ICAL_STORAGE_BUDGET_BYTES
    used = calendar_storage_used()
    deleted = 0
    while used > budget:
        oldest = list(
            CalendarExport.objects.filter(status=Status.SUCCESS)
            .exclude(file=keep)
            .order_by("finished_at")
            .values_list("pk", "file", "file_size")[:batch_size]
        )
        if not oldest:
            break
        for pk, name, size in oldest:
            if used <= budget:
                break
            CalendarExport.objects.filter(pk=pk).delete()
            deleted += 1
            if calendar_file_release(name):
                used -= size or 0
    if deleted:
        logger.warning("storage budget: deleted the %d oldest calendar jobs", deleted)
    return deleted
