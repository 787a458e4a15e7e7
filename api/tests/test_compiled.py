"""A compiled query runs the ORM's own SQL with the caller's values: the same
rows as its queryset, through the same connection."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.signals import post_save
from django.db.models.sql.compiler import SQLInsertCompiler, SQLUpdateCompiler
from django_celery_results.models import TaskResult

from api.compiled import (
    STAND_IN_ID,
    STAND_IN_OWNER_ID,
    STAND_IN_TIME,
    STAND_IN_UUID,
    Along,
    Before,
    CompiledQuery,
    can_upsert,
    can_write_along,
    save_row,
    statement_along,
    update_sql,
    upsert_row,
)
from calendars.models import CalendarExport
from todos.models import Todo

pytestmark = pytest.mark.django_db

TODO_ID = (STAND_IN_ID, Todo._meta.pk)


def test_its_rows_are_its_querysets_for_each_value(make_todo):
    todos = [make_todo(title=f"t{n}", completed=n % 2 == 0) for n in range(3)]
    query = CompiledQuery.of(
        Todo.objects.filter(pk=STAND_IN_ID).values_list("id", "title", "completed"),
        todo_id=TODO_ID,
    )

    for todo in todos:
        expected = list(
            Todo.objects.filter(pk=todo.pk).values_list("id", "title", "completed")
        )
        assert query.rows(todo_id=todo.pk) == expected
    # Converted as the ORM converts: a boolean, also on SQLite (0 or 1 there).
    assert query.rows(todo_id=todos[0].pk)[0][2] is True
    assert query.rows(todo_id=todos[-1].pk + 1) == []


def test_values_become_parameters_as_their_fields_make_them():
    """A UUID and a date-time, which SQLite keeps as text."""
    export = CalendarExport.objects.create()
    query = CompiledQuery.of(
        CalendarExport.objects.filter(
            pk=STAND_IN_UUID, created_at__gte=STAND_IN_TIME
        ).values_list("id"),
        export_id=(STAND_IN_UUID, CalendarExport._meta.pk),
        since=(STAND_IN_TIME, CalendarExport._meta.get_field("created_at")),
    )

    assert query.rows(export_id=export.pk, since=export.created_at) == [(export.pk,)]
    assert query.rows(export_id=uuid4(), since=export.created_at) == []


def test_a_stand_in_that_is_not_exactly_one_parameter_is_refused():
    absent = Todo.objects.filter(pk=STAND_IN_OWNER_ID)
    twice = Todo.objects.filter(pk=STAND_IN_ID) | Todo.objects.filter(owner=STAND_IN_ID)
    with pytest.raises(ValueError, match="0 of the query's parameters"):
        CompiledQuery.of(absent, todo_id=TODO_ID)
    with pytest.raises(ValueError, match="2 of the query's parameters"):
        CompiledQuery.of(twice, todo_id=TODO_ID)


def test_it_runs_through_the_connection_as_the_orm_does(make_todo):
    """Execute wrappers see it, as they see the ORM's (and so do the
    connection's health check and its error types)."""
    todo = make_todo()
    query = CompiledQuery.of(Todo.objects.filter(pk=STAND_IN_ID), todo_id=TODO_ID)
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        rows = query.rows(todo_id=todo.pk)

    assert seen == [[todo.pk]]
    assert rows[0][0] == todo.pk


def test_it_streams_the_same_rows_a_chunk_at_a_time(make_todo):
    for n in range(5):
        make_todo(title=f"t{n}", completed=n % 2 == 0)
    rows = Todo.objects.values_list("id", "title", "completed")
    query = CompiledQuery.of(rows)
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        streamed = list(query.stream(size=2))

    assert streamed == query.rows() == list(rows)
    assert all(type(row[2]) is bool for row in streamed)
    assert seen == [query.sql]  # one statement, run as the ORM runs its own


# --- save_row: save() without a compile per save --------------------------------------


@pytest.fixture
def saves_sent():
    """The post_save signals sent for todos during the test."""
    sent = []

    def record(sender, instance, created, update_fields, **kwargs):
        sent.append((instance.pk, created, update_fields))

    post_save.connect(record, sender=Todo, dispatch_uid="test-saves-sent")
    yield sent
    post_save.disconnect(sender=Todo, dispatch_uid="test-saves-sent")


@pytest.fixture
def no_orm_compile(monkeypatch):
    """The ORM's INSERT and UPDATE compilers fail if asked to write SQL."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__} compiled a statement")

    monkeypatch.setattr(SQLInsertCompiler, "as_sql", refuse)
    monkeypatch.setattr(SQLUpdateCompiler, "as_sql", refuse)


def test_a_new_row_is_inserted_once_with_its_id_read_back(saves_sent):
    save_row(Todo(title="first"))  # its statement written; compiled no more after
    todo = Todo(title="new", description=None, completed=True)
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        save_row(todo)

    # One INSERT (then the feed's change count, a receiver of post_save).
    assert [sql.split()[0] for sql in seen][:1] == ["INSERT"]
    assert sum(sql.startswith("INSERT") for sql in seen) == 1
    assert todo.pk is not None and not todo._state.adding
    stored = Todo.objects.get(pk=todo.pk)
    assert (stored.title, stored.description, stored.completed) == ("new", None, True)
    # auto_now_add and auto_now ran, as in save().
    assert stored.created_at == todo.created_at is not None
    assert stored.updated_at == todo.updated_at is not None
    assert saves_sent[-1] == (todo.pk, True, None)


def test_no_save_compiles_its_statement_again(no_orm_compile):
    todo = Todo(title="new")
    save_row(todo)
    todo.title = "renamed"
    save_row(todo, update_fields=["title"])

    assert Todo.objects.get(pk=todo.pk).title == "renamed"


def test_a_row_whose_id_its_default_makes_is_inserted_with_it():
    export = CalendarExport(client="c", sends=1)
    chosen = export.pk

    save_row(export)

    assert export.pk == chosen
    assert CalendarExport.objects.filter(pk=chosen, client="c", sends=1).exists()


def test_an_update_writes_the_named_fields_and_nothing_else(make_todo, saves_sent):
    todo = make_todo(title="before", description="kept")
    before = todo.updated_at
    todo.title = "after"
    todo.description = "not written"

    save_row(todo, update_fields=["title", "updated_at"])

    stored = Todo.objects.get(pk=todo.pk)
    assert (stored.title, stored.description) == ("after", "kept")
    assert stored.updated_at == todo.updated_at > before  # auto_now ran
    assert saves_sent[-1] == (todo.pk, False, frozenset({"title", "updated_at"}))


def test_an_update_of_a_row_that_is_gone_fails_as_save_does(make_todo):
    todo = make_todo()
    Todo.objects.filter(pk=todo.pk).delete()
    todo.title = "late"

    with pytest.raises(DatabaseError, match="did not affect any rows"):
        save_row(todo, update_fields=["title"])


def test_what_it_does_not_write_itself_goes_to_save(make_todo):
    export = CalendarExport.objects.create(sends=1)
    export.sends = F("sends") + 1

    save_row(export, update_fields=["sends"])

    assert CalendarExport.objects.get(pk=export.pk).sends == 2


def test_an_update_holds_its_conditions_and_refuses_others():
    sql = update_sql(Todo, "default", ("title",), (("id", "="), ("owner", "IS NULL")))
    assert sql.endswith("IS NULL") and sql.count("%s") == 2
    with pytest.raises(ValueError, match="no such condition"):
        update_sql(Todo, "default", ("title",), (("id", ">"),))


# --- Statements along a write (PostgreSQL's data-modifying WITH) ----------------------


def _postgresql_only() -> None:
    if not can_write_along(connection):
        pytest.skip(
            "SQLite has no UPDATE within another statement (data-modifying WITH)"
        )


def _complete(todo: Todo, counts: list) -> Along:
    """An Along that marks `todo` done, and notes how many rows it changed."""
    return Along(
        sql='UPDATE "todos_todo" SET "completed" = %s WHERE "id" = %s',
        params=(True, todo.pk),
        counted=counts.append,
    )


def test_a_statement_along_an_insert_runs_in_the_inserts_own_statement(make_todo):
    _postgresql_only()
    other = make_todo(title="other")
    seen, counts, saves = [], [], []
    post_save.connect(
        lambda sender, **kwargs: saves.append(kwargs["written_along"]),
        sender=Todo,
        weak=False,
        dispatch_uid="test-written-along",
    )

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(watch):
            new = Todo(title="new")
            save_row(new, along=[_complete(other, counts)])
    finally:
        post_save.disconnect(sender=Todo, dispatch_uid="test-written-along")

    assert len(seen) == 1 and seen[0].startswith("WITH")
    assert Todo.objects.get(pk=new.pk).title == "new"
    assert Todo.objects.get(pk=other.pk).completed
    assert counts == [1]
    assert saves == [True]


def test_a_statement_along_a_write_that_wrote_no_row_changes_nothing(make_todo):
    _postgresql_only()
    other = make_todo(title="other")
    counts: list = []
    sql, params = statement_along(
        update_sql(Todo, "default", ("title",), (("id", "="),), returning=True),
        ["renamed", other.pk + 1000],  # no such todo
        [_complete(other, counts)],
    )

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchall() == []

    assert not Todo.objects.get(pk=other.pk).completed


@pytest.mark.django_db(transaction=True)  # each statement commits on its own
def test_a_statement_along_that_fails_leaves_the_write_undone(make_todo):
    _postgresql_only()
    other = make_todo(title="other")
    failing = Along(
        sql='UPDATE "todos_todo" SET "title" = NULL WHERE "id" = %s',  # NOT NULL
        params=(other.pk,),
        counted=lambda rows: None,
    )

    with pytest.raises(IntegrityError):
        save_row(Todo(title="new"), along=[failing])

    assert list(Todo.objects.values_list("title", flat=True)) == ["other"]


def test_statements_along_need_a_new_rows_insert(make_todo):
    _postgresql_only()
    along = [_complete(make_todo(title="other"), [])]
    with pytest.raises(ValueError, match="INSERT"):
        save_row(make_todo(title="saved"), update_fields=["title"], along=along)
    with pytest.raises(ValueError, match="expressions"):
        save_row(Todo(title="new", completed=F("completed")), along=along)


# --- A statement before an update (PostgreSQL) ---------------------------------------

LOCK_42 = Before("SELECT pg_advisory_xact_lock(%s)", (42,))


def advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # the block below is the transaction
def test_a_lock_taken_before_an_update_is_held_to_the_end_of_the_transaction():
    _postgresql_only()
    export = CalendarExport.objects.create()
    export.client = "renamed"

    with transaction.atomic():
        statements = statements_of(
            lambda: save_row(export, update_fields=["client"], before=LOCK_42)
        )
        assert len(statements) == 1 and "pg_advisory_xact_lock" in statements[0]
        assert advisory_locks_held() == 1

    assert advisory_locks_held() == 0
    assert CalendarExport.objects.get(pk=export.pk).client == "renamed"


def test_an_update_of_a_gone_row_with_a_statement_before_it_fails_as_save_does(
    make_todo,
):
    _postgresql_only()
    todo = make_todo(title="saved")
    Todo.objects.filter(pk=todo.pk).delete()

    with pytest.raises(DatabaseError, match="did not affect any rows"):
        save_row(todo, update_fields=["title"], before=LOCK_42)


def test_a_statement_before_a_save_needs_an_update_on_postgresql(make_todo):
    saved = make_todo(title="saved")
    if not can_write_along(connection):
        with pytest.raises(ValueError, match="PostgreSQL"):
            save_row(saved, update_fields=["title"], before=LOCK_42)
        return
    with pytest.raises(ValueError, match="UPDATE"):
        save_row(Todo(title="new"), before=LOCK_42)
    with pytest.raises(ValueError, match="expressions"):
        saved.completed = F("completed")
        save_row(saved, update_fields=["completed"], before=LOCK_42)


# --- Upserts ----------------------------------------------------------------------


def statements_of(call) -> list[str]:
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        call()
    return seen


def test_an_upsert_inserts_a_row_then_writes_into_it_in_one_statement_each(
    no_orm_compile,
):
    assert can_upsert(TaskResult)  # PostgreSQL and SQLite alike
    first = TaskResult(task_id="job-1", status="PENDING", task_name="ical")
    assert len(statements_of(lambda: upsert_row(first, unique="task_id"))) == 1
    stored = TaskResult.objects.get(task_id="job-1")
    assert (stored.status, stored.task_name) == ("PENDING", "ical")

    again = TaskResult(task_id="job-1", status="SUCCESS", result='"done"')
    statements = statements_of(lambda: upsert_row(again, unique="task_id"))

    assert len(statements) == 1 and "ON CONFLICT" in statements[0]
    (row,) = TaskResult.objects.filter(task_id="job-1")
    assert row.pk == stored.pk  # the same row, written into
    assert (row.status, row.result) == ("SUCCESS", '"done"')
    assert row.task_name is None  # every field written, as save() writes them
    # Set on insert alone (auto_now_add); set on each write (auto_now).
    assert row.date_created == stored.date_created
    assert row.date_done > stored.date_done


def test_an_upsert_keeps_the_fields_it_is_told_to_keep():
    started = datetime(2030, 1, 1, tzinfo=UTC)
    upsert_row(
        TaskResult(task_id="job-2", status="STARTED", date_started=started),
        unique="task_id",
    )

    upsert_row(
        TaskResult(task_id="job-2", status="SUCCESS"),
        unique="task_id",
        keep=("date_started",),
    )

    row = TaskResult.objects.get(task_id="job-2")
    assert (row.status, row.date_started) == ("SUCCESS", started)
