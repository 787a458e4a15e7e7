from datetime import UTC, datetime

import pytest
from django.db import connection

from todos.models import Todo
from todos.services import todo_create, todo_delete, todo_update


def test_create_applies_defaults(db):
    todo = todo_create(title="Write tests")
    todo.refresh_from_db()
    assert (todo.title, todo.description, todo.completed, todo.deadline_at) == (
        "Write tests",
        None,
        False,
        None,
    )
    assert todo.created_at is not None and todo.updated_at is not None


def test_update_changes_only_the_given_fields_and_moves_updated_at(db):
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    todo = todo_create(title="Before", description="keep me", deadline_at=deadline)
    before = todo.updated_at

    todo_update(todo_id=todo.pk, changes={"title": "After"})

    stored = Todo.objects.get(pk=todo.pk)
    assert stored.title == "After"
    assert stored.description == "keep me"
    assert stored.deadline_at == deadline
    assert stored.updated_at > before
    assert stored.created_at == todo.created_at


def test_update_writes_only_the_named_columns(db):
    """A concurrent change to another field is not overwritten."""
    todo = todo_create(title="Shared")
    Todo.objects.filter(pk=todo.pk).update(description="written by someone else")

    todo_update(todo_id=todo.pk, changes={"completed": True})

    stored = Todo.objects.get(pk=todo.pk)
    assert stored.completed is True
    assert stored.description == "written by someone else"


def test_update_of_a_todo_that_is_gone_is_none(db):
    todo = todo_create(title="Gone soon")
    todo_delete(todo_id=todo.pk)
    assert todo_update(todo_id=todo.pk, changes={"title": "Too late"}) is None


def test_delete_returns_the_deleted_todo_with_its_id_then_none(db):
    todo = todo_create(title="Gone soon")

    deleted = todo_delete(todo_id=todo.pk)

    assert (
        deleted is not None and deleted.pk == todo.pk and deleted.title == "Gone soon"
    )
    assert not Todo.objects.filter(pk=todo.pk).exists()
    assert todo_delete(todo_id=todo.pk) is None


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "locked-read"])
def test_update_answers_the_todo_as_stored_and_none_when_gone(
    db, monkeypatch, returning
):
    todo = todo_create(title="Before", description="keep me")
    # False: a database that cannot return rows from a write (SQLite < 3.35).
    monkeypatch.setattr(
        connection.features, "can_return_columns_from_insert", returning
    )

    updated = todo_update(todo_id=todo.pk, changes={"title": "After"})

    stored = Todo.objects.get(pk=todo.pk)
    for field in Todo._meta.concrete_fields:
        assert getattr(updated, field.attname) == getattr(stored, field.attname)
    assert (stored.title, stored.description) == ("After", "keep me")
    assert stored.updated_at > todo.updated_at
    Todo.objects.filter(pk=todo.pk).delete()
    assert todo_update(todo_id=todo.pk, changes={"title": "Late"}) is None
