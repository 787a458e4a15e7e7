"""The todo list as JSON bytes: fast for a hundred todos, streamed for a million.

Measured here (docs/benchmarks.md), a list's time went to Python, not SQL:
a model instance per row and a date-time read from the database's form and
written out again. Here the database writes each date-time as the API shows
it (as calendars.selectors.UtcStamp does for calendars), rows come as tuples,
and orjson writes the array. The bytes are the ones TodoSerializer and DRF's
JSONRenderer give for the same rows (todos/tests/test_rendering.py holds them
to it).
"""

from collections.abc import Iterable, Iterator
from functools import cache
from itertools import islice
from typing import Any

import orjson
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import CharField, F, Func, QuerySet

from accounts.owners import OwnedQuery
from api.compiled import STAND_IN_ID
from todos.models import Todo
from todos.selectors import todo_list, todos_of
from todos.serializers import TodoSerializer

# The contract's keys, in its order.
FIELDS = tuple(TodoSerializer.Meta.fields)

# A list up to this long is read in one query and sent whole, with a
# Content-Length; a longer one is streamed in blocks, so that the web process's
# memory stays flat however many todos there are.
WHOLE_LIST_ROWS = 1000
ROWS_PER_BLOCK = 2000


class ApiDateTime(Func):
    """A date-time column as the API writes it: UTC, no suffix,
    2023-02-27T00:00:00, or with `.ffffff` always present when `microseconds`
    (todos.datetimes.format_api_datetime)."""

    arity = 1
    output_field = CharField()

    def __init__(self, expression: str, *, microseconds: bool) -> None:
        self.microseconds = microseconds
        super().__init__(F(expression))

    def as_postgresql(self, compiler, connection, **extra_context):
        pattern = 'YYYY-MM-DD"T"HH24:MI:SS' + (".US" if self.microseconds else "")
        return self.as_sql(
            compiler,
            connection,
            template=f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{pattern}')",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django keeps SQLite date-times as UTC text, `2023-01-02 03:04:05` with
        # `.123456` only when the fraction is not zero.
        template = (
            "replace(substr(%(expressions)s || '.000000', 1, 26), ' ', 'T')"
            if self.microseconds
            else "replace(substr(%(expressions)s, 1, 19), ' ', 'T')"
        )
        return self.as_sql(compiler, connection, template=template, **extra_context)


def todo_rows(todos: QuerySet[Todo]) -> QuerySet:
    """`todos` as tuples of the contract's fields, date-times already written."""
    return todos.annotate(
        deadline_text=ApiDateTime("deadline_at", microseconds=False),
        created_text=ApiDateTime("created_at", microseconds=True),
        updated_text=ApiDateTime("updated_at", microseconds=True),
    ).values_list(
        "id",
        "title",
        "description",
        "completed",
        "deadline_text",
        "created_text",
        "updated_text",
    )


def _json_items(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """Rows as JSON objects joined by commas, without the array's brackets.

    DRF's JSONRenderer writes U+2028 and U+2029 escaped (so that the JSON is
    also JavaScript); orjson writes them raw, so they are escaped here."""
    array = orjson.dumps([dict(zip(FIELDS, row, strict=True)) for row in rows])
    return (
        array[1:-1]
        .replace("\u2028".encode(), b"\\u2028")
        .replace("\u2029".encode(), b"\\u2029")
    )


def todos_json(
    *,
    owner: AbstractBaseUser | None,
    completed: bool | None = None,
    window: int | None = None,
) -> bytes | Iterator[bytes]:
    """The JSON array of todo_list(owner=, completed=, window=): whole bytes
    for a list of up to WHOLE_LIST_ROWS, else an iterator of blocks to stream.

    The first rows are read here, before any byte is sent, so that a database
    fault is still answered as an error rather than as a cut-off array.
    Without a window (whose end moves with the clock) their query is compiled
    once (api/compiled.py): building and compiling it took a third of a
    100-todo list's CPU (docs/benchmarks.md).
    """
    rows = None
    if window is None:
        first = _first_rows(completed=completed, limit=WHOLE_LIST_ROWS).rows(owner)
    else:
        rows = todo_rows(todo_list(owner=owner, completed=completed, window=window))
        first = list(rows[:WHOLE_LIST_ROWS])
    if len(first) < WHOLE_LIST_ROWS:
        return b"[" + _json_items(first) + b"]"
    if rows is None:
        rows = todo_rows(todo_list(owner=owner, completed=completed))
    # The rest by id, on a server-side cursor: the first query's rows need not
    # stay in memory, nor the rest be read at once.
    rest = rows.filter(id__gt=first[-1][0]).iterator(chunk_size=ROWS_PER_BLOCK)
    return _blocks(first, rest)


@cache
def _first_rows(*, completed: bool | None, limit: int) -> OwnedQuery:
    """todo_rows() of the first `limit` of an owner's todos, all or only the
    (not) completed ones."""
    return OwnedQuery.of(
        lambda owner: todo_rows(todo_list(owner=owner, completed=completed))[:limit]
    )


def todo_json(*, todo_id: int, owner: AbstractBaseUser | None) -> bytes | None:
    """The JSON object of the owner's todo of that id; None when they have none."""
    rows = _one_todo().rows(owner, todo_id=todo_id)
    return _json_items(rows) if rows else None


@cache
def _one_todo() -> OwnedQuery:
    """todo_rows() of one of an owner's todos: the API's most frequent read,
    compiled once."""
    # No ORDER BY (the model's default): an id names one todo at most.
    return OwnedQuery.of(
        lambda owner: todo_rows(todos_of(owner).filter(pk=STAND_IN_ID).order_by()),
        todo_id=(STAND_IN_ID, Todo._meta.pk),
    )


def todo_page_json(todos: QuerySet[Todo], *, limit: int) -> tuple[bytes, int | None]:
    """The JSON array of the first `limit` of `todos` (ordered by id), and the
    id to continue after when there are more (else None)."""
    rows = list(todo_rows(todos)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return b"[" + _json_items(rows) + b"]", rows[-1][0] if more else None


def _blocks(first: list[tuple[Any, ...]], rest: Iterator[tuple]) -> Iterator[bytes]:
    yield b"[" + _json_items(first)
    while block := list(islice(rest, ROWS_PER_BLOCK)):
        yield b"," + _json_items(block)
    yield b"]"
