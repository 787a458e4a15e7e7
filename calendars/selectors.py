"""Functions that read what a calendar needs from the database."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, connections, transaction
from django.db.models import CharField, F, Func, QuerySet

from accounts.owners import OwnedQuery, owned_by
from api.compiled import STAND_IN_TIME, STAND_IN_UUID, CompiledQuery, instance_of
from calendars.ical import TodoRow
from calendars.models import CalendarExport
from todos.selectors import todo_list

# Rows fetched per round trip: memory stays flat however many todos there are.
ROWS_PER_FETCH = 2000


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


def calendar_export_get(
    *, export_id: UUID, owner: AbstractBaseUser | None
) -> CalendarExport | None:
    """The owner's job of that id (None: the shared list's); None when there is
    none, or it is another's."""
    return next(iter(_owned_export(export_id=export_id, owner=owner)[:1]), None)


def calendar_export_status(
    *, export_id: UUID, owner: AbstractBaseUser | None
) -> str | None:
    """The status of the owner's job of that id; None as calendar_export_get.
    What every poll reads: one column, compiled once (api/compiled.py)."""
    rows = _export_status_query().rows(owner, export_id=export_id)
    return rows[0][0] if rows else None


def _owned_export(*, export_id: UUID, owner: AbstractBaseUser | int | None):
    # No ORDER BY (the model's default): an id names one row at most.
    return owned_by(CalendarExport.objects.filter(pk=export_id), owner).order_by()


@cache
def _export_status_query() -> OwnedQuery:
    return OwnedQuery.of(
        lambda owner: _owned_export(export_id=STAND_IN_UUID, owner=owner).values_list(
            "status"
        ),
        export_id=(STAND_IN_UUID, CalendarExport._meta.pk),
    )


def calendar_export_by_id(export_id: UUID | str) -> CalendarExport | None:
    """The job of that id, whoever's it is; compiled once."""
    query = _export_query()
    rows = query.rows(export_id=UUID(str(export_id)))
    return instance_of(CalendarExport, query.using, rows[0]) if rows else None


@cache
def _export_query() -> CompiledQuery:
    exports = CalendarExport.objects.filter(pk=STAND_IN_UUID).order_by()
    return CompiledQuery.of(exports, export_id=(STAND_IN_UUID, CalendarExport._meta.pk))


def calendar_export_donor(*, export: CalendarExport) -> CalendarExport | None:
    """A finished job whose calendar this job may have as its own: the same
    owner and filters, no window (each job counts one from its own request),
    and todos read after this job was asked for. Compiled once for each
    owner's kind and filter (api/compiled.py): every job asks. On PostgreSQL
    a job's start asks in its own statement, by the same conditions
    (with_donor_sql)."""
    if export.window is not None:
        return None
    query = _donor_query(completed=export.completed)
    rows = query.rows(export.owner_id, export_id=export.pk, asked_at=export.created_at)
    return instance_of(CalendarExport, query.shared.using, rows[0]) if rows else None


@cache
def _donor_query(*, completed: bool | None) -> OwnedQuery:
    def donors(owner: int | None) -> QuerySet:
        return (
            owned_by(CalendarExport.objects.all(), owner)
            .filter(
                status=CalendarExport.Status.SUCCESS,
                completed=completed,
                window__isnull=True,
                read_at__gte=STAND_IN_TIME,
            )
            .exclude(pk=STAND_IN_UUID)
            .order_by("-read_at")[:1]
        )

    return OwnedQuery.of(
        donors,
        export_id=(STAND_IN_UUID, CalendarExport._meta.pk),
        asked_at=(STAND_IN_TIME, CalendarExport._meta.get_field("read_at")),
    )


@cache
def with_donor_sql(started_sql: str, using: str) -> str:
    """`started_sql` (an UPDATE of one job, RETURNING every_column) and that
    job's donor, as calendar_export_donor defines it, in one statement
    (PostgreSQL: a data-modifying WITH and a LATERAL join). Its row: the job's
    columns, then the donor's, every one NULL when there is none; its one
    parameter after the UPDATE's, the status SUCCESS. No row when the UPDATE
    wrote none.

    The same conditions as _donor_query's, written for the job's own row (NULL
    meets NULL, as owned_by() and a filter of None mean), so that a job's
    start and its look for a donor are one round trip."""
    quote = connections[using].ops.quote_name

    def column(name: str) -> str:
        return quote(CalendarExport._meta.get_field(name).column)

    donor_columns = ", ".join(
        f"donor.{quote(field.column)}" for field in CalendarExport._meta.concrete_fields
    )
    same = " AND ".join(
        f"donor.{column(name)} IS NOT DISTINCT FROM started.{column(name)}"
        for name in ("owner", "completed")
    )
    return (
        f"WITH started AS ({started_sql}) "
        f"SELECT started.*, found.* FROM started LEFT JOIN LATERAL ("
        f"SELECT {donor_columns} "
        f"FROM {quote(CalendarExport._meta.db_table)} AS donor "
        f"WHERE donor.{column('status')} = %s AND {same} "
        f"AND donor.{column('window')} IS NULL "
        f"AND started.{column('window')} IS NULL "
        f"AND donor.{column('read_at')} >= started.{column('created_at')} "
        f"AND donor.{column('id')} <> started.{column('id')} "
        f"ORDER BY donor.{column('read_at')} DESC LIMIT 1"
        f") AS found ON true"
    )


@contextmanager
def calendar_snapshot() -> Iterator[None]:
    """Reads in the block see the todos as they were at one moment.

    On PostgreSQL: one REPEATABLE READ, READ ONLY transaction (its server-side
    cursor then needs no WITH HOLD copy of every row either). Inside a
    transaction already, that transaction decides. On SQLite the rows come from
    one statement, which sees one snapshot in WAL mode; a transaction there
    would hold the database's write lock for the whole build.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def calendar_rows(
    *,
    completed: bool | None,
    window: int | None,
    requested_at: datetime,
    owner: int | None = None,
) -> Iterator[TodoRow]:
    """The todos of `owner` (a user's id; None: the shared list) a job covers
    that have a deadline, as they are at one moment when read; `window` counts
    from `requested_at`, the request. Only the columns a calendar needs, its
    times already written by the database.

    One statement, which sees one moment by itself, streamed ROWS_PER_FETCH
    rows at a time (CompiledQuery.stream): memory stays flat however many
    todos there are, and on PostgreSQL the server sends the rows while the
    calendar is written, where a cursor's FETCHes would take turns with it.
    Compiled once for each owner's kind and filter, but with a window, whose
    end moves with each request.
    """
    if window is not None:
        query = CompiledQuery.of(
            _calendar_rows(
                completed=completed,
                window=window,
                requested_at=requested_at,
                owner=owner,
            )
        )
        yield from query.stream(size=ROWS_PER_FETCH)
        return
    yield from _calendar_rows_query(completed=completed).stream(
        owner, size=ROWS_PER_FETCH
    )


def _calendar_rows(
    *,
    completed: bool | None,
    window: int | None,
    requested_at: datetime,
    owner: int | None,
) -> QuerySet:
    return (
        todo_list(owner=owner, completed=completed, window=window, now=requested_at)
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
    )


@cache
def _calendar_rows_query(*, completed: bool | None) -> OwnedQuery:
    return OwnedQuery.of(
        lambda owner: _calendar_rows(
            completed=completed,
            window=None,
            requested_at=STAND_IN_TIME,  # unused without a window
            owner=owner,
        )
    )


class CountedRows:
    """Rows passed on as they are read, counted on the way: the events a
    calendar got, known once it is written."""

    def __init__(self, rows: Iterable[TodoRow]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[TodoRow]:
        for row in self.rows:
            self.count += 1
            yield row
