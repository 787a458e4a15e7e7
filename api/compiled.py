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

from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import islice
from typing import Any
from uuid import UUID

from django.db import DatabaseError, connections, router, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Field, Model, QuerySet, signals
from django.db.models.constants import OnConflict
from django.db.models.sql import Query

# Stand-ins for ids while a queryset compiles: ids that no row has (ids count
# up from 1), told apart from each other by their values.
STAND_IN_ID = -1_000_000_001
STAND_IN_OWNER_ID = -1_000_000_002  # an owner's (accounts.owners.OwnedQuery)
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
            return self.converted(connection, cursor.fetchall())

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
                    yield from self.converted(connection, chunk)
                    with connection.wrap_database_errors:
                        chunk = list(islice(rows, size))
                return
            cursor.execute(self.sql, params)
            while chunk := cursor.fetchmany(size):
                yield from self.converted(connection, chunk)

    def _params(self, connection, values: dict[str, Any]) -> list[Any]:
        params = list(self.params)
        for index, name, field in self.slots:
            params[index] = field.get_db_prep_value(
                values[name], connection, prepared=False
            )
        return params

    def converted(self, connection, rows: list) -> list[tuple[Any, ...]]:
        """Rows of these columns, read by another statement (an UPDATE's
        RETURNING, say), converted as this query's own are."""
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


# --- Saves ---------------------------------------------------------------------------
# Model.save() compiles its INSERT or UPDATE every time, as a queryset does: in
# a todo's POST and PUT, and in each write of a job's row, that compile took
# more CPU than anything else in the save (docs/benchmarks.md).


def save_row(
    instance: Model,
    *,
    update_fields: Sequence[str] | None = None,
    along: Sequence["Along"] = (),
    before: "Before | None" = None,
) -> None:
    """instance.save(update_fields=update_fields), its statement written once
    per model and set of fields rather than compiled on each save.

    A new instance (no id yet, or one its field's default made) is inserted,
    every field, and an id the database gives read back; a saved one has
    `update_fields` written, and a DatabaseError when its row is gone, as
    save() gives. Each field's pre_save runs (auto_now and
    auto_now_add), and the pre_save and post_save signals go out as save()
    sends them. What this does not cover goes to save() itself: a model with
    parent models, a value that is an expression (F("n") + 1), a save of
    every field of a saved instance, a database that cannot return an
    inserted id.

    `along`: statements to run in the new row's INSERT (statement_along),
    where can_write_along(); post_save then says `written_along=True`.
    `before`: a statement to run in an update's own statement, before its
    row is written (statement_before), where can_write_along()."""
    meta = instance._meta
    using = router.db_for_write(type(instance), instance=instance)
    connection = connections[using]
    # As save(): a new instance is inserted outright when it has no id yet, or
    # an id its field made (a default).
    adding = instance._state.adding and (instance.pk is None or meta.pk.has_default())
    with_id = instance.pk is not None
    returning = adding and not with_id and bool(meta.db_returning_fields)
    if along and not (returning and can_write_along(connection)):
        raise ValueError("statements along a save need a new row's INSERT")
    if before and (adding or not can_write_along(connection)):
        raise ValueError("a statement before a save needs an UPDATE on PostgreSQL")
    if (
        meta.parents
        or (adding and update_fields)  # save() refuses it, and says why
        or (not adding and not update_fields)
        or (returning and not connection.features.can_return_columns_from_insert)
    ):
        instance.save(update_fields=update_fields)
        return
    fields = (
        _insert_fields(meta, with_id=with_id)
        if adding
        else _update_fields(meta, update_fields)
    )
    values = [field.pre_save(instance, adding) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        if along or before:
            raise ValueError("statements in a save need values, not expressions")
        instance.save(update_fields=update_fields)
        return
    origin = type(instance)
    saved_fields = None if adding else frozenset(update_fields)
    signals.pre_save.send(
        sender=origin,
        instance=instance,
        raw=False,
        using=using,
        update_fields=saved_fields,
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        if adding and along:
            sql, _ = _insert_sql(origin, using, with_id=with_id)
            cursor.execute(*statement_along(sql, params, along))
            row = written_row(cursor.fetchone(), along, len(meta.db_returning_fields))
            for field, value in zip(meta.db_returning_fields, row, strict=True):
                setattr(instance, field.attname, value)
        elif adding:
            sql, returning_params = _insert_sql(origin, using, with_id=with_id)
            cursor.execute(sql, params)
            if returning:
                row = connection.ops.fetch_returned_insert_columns(
                    cursor, returning_params
                )
                for field, value in zip(meta.db_returning_fields, row, strict=True):
                    setattr(instance, field.attname, value)
        else:
            assigned = tuple(field.attname for field in fields)
            sql = update_sql(origin, using, assigned, ((meta.pk.attname, "="),))
            params.append(meta.pk.get_db_prep_value(instance.pk, connection))
            if before:
                sql, params = statement_before(sql, params, before)
            cursor.execute(sql, params)
            if cursor.rowcount == 0:
                raise DatabaseError("Save with update_fields did not affect any rows.")
    instance._state.db = using
    instance._state.adding = False
    signals.post_save.send(
        sender=origin,
        instance=instance,
        created=adding,
        update_fields=saved_fields,
        raw=False,
        using=using,
        written_along=bool(along),
    )


def _insert_fields(meta, *, with_id: bool) -> list[Field]:
    return [
        field
        for field in meta.local_concrete_fields
        if not field.generated and (with_id or field is not meta.auto_field)
    ]


def _update_fields(meta, names: Sequence[str]) -> list[Field]:
    fields = [meta.get_field(name) for name in names]
    if any(not field.concrete or field.primary_key for field in fields):
        raise ValueError(f"update_fields names no column to write: {list(names)}")
    return list({field.attname: field for field in fields}.values())


@cache
def _insert_sql(
    model: type[Model], using: str, *, with_id: bool
) -> tuple[str, tuple[Any, ...]]:
    """The model's INSERT of every field, returning the id the database gives
    (unless it has one), as the ORM writes it; and the returned columns'
    parameters (none but on Oracle)."""
    connection = connections[using]
    meta = model._meta
    fields = _insert_fields(meta, with_id=with_id)
    returning, returning_params = (
        ("", ())
        if with_id
        else connection.ops.return_insert_columns(meta.db_returning_fields)
    )
    return f"{_insert_into(connection, meta, fields)} {returning}", tuple(
        returning_params
    )


def _insert_into(connection, meta, fields: list[Field]) -> str:
    """INSERT INTO the model's table these fields' columns, a parameter each."""
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {quote(meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )


def can_upsert(model: type[Model]) -> bool:
    """Whether upsert_row can write the model's rows: the database takes
    INSERT ... ON CONFLICT (a unique column) DO UPDATE (PostgreSQL and SQLite)
    and the model has no parent models."""
    using = router.db_for_write(model)
    features = connections[using].features
    return features.supports_update_conflicts_with_target and not model._meta.parents


def upsert_row(instance: Model, *, unique: str, keep: tuple[str, ...] = ()) -> None:
    """Insert the instance's row or, when a row has its value of the unique
    field `unique` already, write the instance's fields into that row, all but
    those written on insert alone (auto_now_add ones, and those named in
    `keep`): a get_or_create() and then a save(), as one statement (INSERT
    ... ON CONFLICT DO UPDATE), which commits by itself outside a transaction.
    Each field's pre_save runs; no signal is sent, as bulk_create() sends
    none, and the id is not read back. Only where can_upsert(type(instance))."""
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    connection = connections[using]
    fields = _insert_fields(model._meta, with_id=False)
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in fields
    ]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(_upsert_sql(model, using, unique, keep), params)


@cache
def _upsert_sql(
    model: type[Model], using: str, unique: str, keep: tuple[str, ...]
) -> str:
    connection = connections[using]
    meta = model._meta
    fields = _insert_fields(meta, with_id=False)
    written = [
        field.column
        for field in fields
        if field.name != unique
        and field.name not in keep
        and not field.primary_key
        and not getattr(field, "auto_now_add", False)
    ]
    conflict = connection.ops.on_conflict_suffix_sql(
        fields, OnConflict.UPDATE, written, [meta.get_field(unique).column]
    )
    return f"{_insert_into(connection, meta, fields)} {conflict}"


# --- Statements along a write (PostgreSQL) ------------------------------------------
# A write that another table counts (a todo, which its owner's calendar feed
# counts) took a transaction of four round trips: BEGIN, the write, the count's
# UPDATE, COMMIT. PostgreSQL runs an UPDATE within another statement (a
# data-modifying WITH), in one round trip and one transaction of its own.


@dataclass(frozen=True)
class Along:
    """An UPDATE to run in the statement of a row's write, and only when that
    write wrote a row: its SQL, ending in a WHERE clause of conditions joined
    by AND; its parameters; and what to call, once the statement has run,
    with the number of rows it changed."""

    sql: str
    params: tuple[Any, ...]
    counted: Callable[[int], None]


def can_write_along(connection) -> bool:
    """Whether the database runs an UPDATE within another statement: on
    PostgreSQL; SQLite has no data-modifying WITH."""
    return connection.vendor == "postgresql"


def statement_along(
    sql: str, params: Sequence[Any], along: Sequence[Along]
) -> tuple[str, list[Any]]:
    """`sql`, a write with RETURNING, and every Along, as one statement and
    its parameters. Its rows are those `sql` returns, each followed by the
    number of rows each Along changed; an Along changes nothing when `sql`
    wrote no row. What a transaction gave them, one statement gives: all
    happen, or none."""
    parts = [f"written AS ({sql})"] + [
        f"along_{n} AS ({statement.sql} AND EXISTS (SELECT 1 FROM written) RETURNING 1)"
        for n, statement in enumerate(along)
    ]
    counts = "".join(f", (SELECT count(*) FROM along_{n})" for n in range(len(along)))
    return (
        f"WITH {', '.join(parts)} SELECT written.*{counts} FROM written",
        [*params, *(param for statement in along for param in statement.params)],
    )


def written_row(
    row: tuple[Any, ...], along: Sequence[Along], columns: int
) -> tuple[Any, ...]:
    """A row of statement_along's statement: each Along is told the number of
    rows it changed (what follows the write's own `columns`); the write's own
    columns."""
    for statement, changed in zip(along, row[columns:], strict=True):
        statement.counted(changed)
    return row[:columns]


@dataclass(frozen=True)
class Before:
    """A statement to run in an UPDATE's own statement, before its row is
    written: a SELECT of one row (a lock taken, say), and its parameters."""

    sql: str
    params: tuple[Any, ...]


def statement_before(
    sql: str, params: Sequence[Any], before: Before
) -> tuple[str, list[Any]]:
    """`sql`, an UPDATE ... WHERE of update_sql, joined to `before`'s one row,
    as one statement and its parameters: the UPDATE writes a row only once
    `before` has run, in the same round trip. A transaction-level advisory
    lock taken there is held from before the write to the end of the
    transaction, as by a statement of its own before the UPDATE."""
    head, where = sql.split(" WHERE ", 1)
    return (
        f"WITH before AS ({before.sql}) {head} FROM before WHERE {where}",
        [*before.params, *params],
    )


# A condition of update_sql: a field, and "=" or "<>" (a parameter), or "IS NULL".
Condition = tuple[str, str]


@cache
def update_sql(
    model: type[Model],
    using: str,
    assigned: tuple[str, ...],
    where: tuple[Condition, ...],
    *,
    returning: bool = False,
) -> str:
    """The model's UPDATE of the `assigned` fields (a parameter each, in
    order, then one for each condition that takes one), of the rows where
    every condition holds; returning every_column(model) when asked."""
    quote = connections[using].ops.quote_name
    meta = model._meta

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    def condition(name: str, operator: str) -> str:
        if operator == "IS NULL":
            return f"{column(name)} IS NULL"
        if operator not in ("=", "<>"):
            raise ValueError(f"no such condition: {name} {operator}")
        return f"{column(name)} {operator} %s"

    sql = (
        f"UPDATE {quote(meta.db_table)} SET "
        + ", ".join(f"{column(name)} = %s" for name in assigned)
        + " WHERE "
        + " AND ".join(condition(name, operator) for name, operator in where)
    )
    return f"{sql} RETURNING {every_column(model, using)}" if returning else sql


# --- Rows our own statements return ------------------------------------------------


def every_column(model: type[Model], using: str) -> str:
    """The model's columns, quoted, in the order of its concrete fields: what a
    statement of our own returns (UPDATE ... RETURNING) for instance_of_row."""
    quote = connections[using].ops.quote_name
    return ", ".join(quote(field.column) for field in model._meta.concrete_fields)


def instance_of_row(model: type[Model], using: str, row: tuple[Any, ...]) -> Model:
    """An instance from a row of every_column(model), as the database gave it,
    converted as the ORM converts its own reads (UUIDs and date-times on
    SQLite, say)."""
    query = _every_column_query(model, using)
    (converted,) = query.converted(connections[using], [row])
    return instance_of(model, using, converted)


def instance_of(model: type[Model], using: str, row: tuple[Any, ...]) -> Model:
    """An instance from a converted row of the model's every field, in order:
    a compiled query's of the model's instances, or instance_of_row's."""
    columns = [field.attname for field in model._meta.concrete_fields]
    return model.from_db(using, columns, row)


@cache
def _every_column_query(model: type[Model], using: str) -> CompiledQuery:
    return CompiledQuery.of(model._base_manager.using(using).order_by())
