"""Querysets compiled to SQL once per process, for the statements run most.

Django compiles a queryset into SQL every time it runs one. For a read of one
row by its id, that compile took more of the web process's CPU than anything
else in the request, the query itself included; in a calendar job, the
compiles of its reads took as long as their round trips (py-spy and timings,
docs/benchmarks.md). A CompiledQuery is the SQL the ORM wrote for a queryset,
kept, with a slot wherever a value of the caller's goes: the same statement,
the same rows, converted as the ORM converts them, through the same
connection (its health check and its error types), without compiling it again.

    query = CompiledQuery.of(
        Todo.objects.filter(pk=STAND_IN_ID), todo_id=(STAND_IN_ID, Todo._meta.pk)
    )
    query.rows(todo_id=5)

A slot names the value the queryset was written with, which must appear once
in its parameters, and the model field that makes a parameter of a value, as
the ORM does (a UUID is text on SQLite, a date-time is text there too).
"""

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Field, QuerySet
from django.db.models.sql import Query

# Stand-ins for ids while a queryset compiles: ids that no row has (ids count
# up from 1), told apart from each other by their values.
STAND_IN_ID = -1_000_000_001
STAND_IN_OTHER_ID = -1_000_000_002
# ... a UUID that uuid4() never makes (its version is 0), and a moment long past.
STAND_IN_UUID = UUID(int=0xC0FFEE)
STAND_IN_TIME = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)


@dataclass(frozen=True)
class CompiledQuery:
    query: Query
    using: str
    sql: str
    params: tuple[Any, ...]
    # Which parameter takes which of the caller's values, and its field.
    slots: tuple[tuple[int, str, Field], ...]
    converters: dict

    @classmethod
    def of(cls, queryset: QuerySet, **slots: tuple[Any, Field]) -> "CompiledQuery":
        """Compile `queryset`, written with the stand-in of each slot
        (name=(stand-in, field)) where the caller's value goes."""
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        found = []
        for name, (stand_in, field) in slots.items():
            param = field.get_db_prep_value(
                stand_in, compiler.connection, prepared=False
            )
            places = [index for index, value in enumerate(params) if value == param]
            if len(places) != 1:
                raise ValueError(
                    f"{name}'s stand-in {stand_in!r} is {len(places)} of the "
                    "query's parameters, not one"
                )
            found.append((places[0], name, field))
        columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
        return cls(
            query=queryset.query,
            using=queryset.db,
            sql=sql,
            params=tuple(params),
            slots=tuple(found),
            converters=compiler.get_converters(columns),
        )

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        """The rows for these values, as the queryset's values_list() gives them
        (or its model's fields in order, for a queryset of models)."""
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self._params(connection, values))
            return self._converted(connection, cursor.fetchall())

    def stream(self, *, size: int, **values: Any) -> Iterator[tuple[Any, ...]]:
        """The same rows, read from the one statement `size` at a time, so that
        memory stays flat however many there are. On PostgreSQL the server
        sends them while they are used here (psycopg's chunked stream); on
        SQLite the statement steps a chunk at a time. Take every row before
        the connection runs anything else."""
        connection = connections[self.using]
        params = self._params(connection, values)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                rows, chunk = _start_stream(cursor, self.sql, params, size=size)
                while chunk:
                    yield from self._converted(connection, chunk)
                    with connection.wrap_database_errors:
                        chunk = list(islice(rows, size))
                return
            cursor.execute(self.sql, params)
            while chunk := cursor.fetchmany(size):
                yield from self._converted(connection, chunk)

    def _params(self, connection, values: dict[str, Any]) -> list[Any]:
        params = list(self.params)
        for index, name, field in self.slots:
            params[index] = field.get_db_prep_value(
                values[name], connection, prepared=False
            )
        return params

    def _converted(self, connection, rows: list) -> list[tuple[Any, ...]]:
        if not self.converters:
            return [tuple(row) for row in rows]
        # A compiler of this thread's connection (a light object: it compiles
        # nothing until asked) applies the converters found at compile time.
        compiler = self.query.get_compiler(using=connection.alias)
        return [tuple(row) for row in compiler.apply_converters(rows, self.converters)]


def _start_stream(
    cursor: CursorWrapper, sql: str, params: list[Any], *, size: int
) -> tuple[Iterator[tuple], list[tuple]]:
    """psycopg's chunked stream of `sql`, which Django's cursor does not offer,
    started as Django's cursor runs a statement: through the connection's
    execute wrappers, logged where queries are (tests, DEBUG), its errors
    Django's. The stream, and its first chunk, read here: the statement runs."""

    def start(sql, params, many, context):
        with cursor.db.wrap_database_errors:
            rows = cursor.cursor.stream(sql, params, size=size)
            return rows, list(islice(rows, size))

    logged = (
        cursor.debug_sql(sql, params)
        if isinstance(cursor, CursorDebugWrapper)
        else nullcontext()
    )
    with logged:
        return cursor._execute_with_wrappers(sql, params, many=False, executor=start)
