"""A compiled query runs the ORM's own SQL with the caller's values: the same
rows as its queryset, through the same connection."""

from uuid import uuid4

import pytest
from django.db import connection

from api.compiled import (
    STAND_IN_ID,
    STAND_IN_OTHER_ID,
    STAND_IN_TIME,
    STAND_IN_UUID,
    CompiledQuery,
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
    absent = Todo.objects.filter(pk=STAND_IN_OTHER_ID)
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
