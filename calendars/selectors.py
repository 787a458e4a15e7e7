"""Functions that read what a calendar needs from the database."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import CharField, F, Func

from accounts.owners import owned_by
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
    return owned_by(CalendarExport.objects.filter(pk=export_id), owner).first()


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
    that have a deadline, as they are when read (in
    calendar_snapshot); `window` counts from `requested_at`, the request.

    Rows come a chunk at a time, only the columns a calendar needs, its times
    already written by the database: memory stays flat however many todos
    there are.
    """
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
        .iterator(chunk_size=ROWS_PER_FETCH)
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
