"""Functions that write todos."""

from datetime import datetime
from functools import cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from api.compiled import STAND_IN_ID, STAND_IN_OTHER_ID, CompiledQuery
from todos.models import Todo
from todos.selectors import todos_of


# One transaction: the todo and its owner's feed change (calendars/receivers.py)
# commit together, and wait for the disk once, not twice.
@transaction.atomic
def todo_create(
    *,
    title: str,
    description: str | None = None,
    completed: bool = False,
    deadline_at: datetime | None = None,
    owner: AbstractBaseUser | None = None,
) -> Todo:
    return Todo.objects.create(
        owner=owner,
        title=title,
        description=description,
        completed=completed,
        deadline_at=deadline_at,
    )


@transaction.atomic
def todo_update(
    *, todo_id: int, changes: dict[str, Any], owner: AbstractBaseUser | None = None
) -> Todo | None:
    """Change the given fields, and only those; `updated_at` moves on every update.

    None when the owner has no such todo, also when a delete got there first: the
    row is locked from its read to its write, so a concurrent delete either
    waits for this update or wins before it reads.
    """
    todo = _locked_todo(todo_id=todo_id, owner=owner)
    if todo is None:
        return None
    for field, value in changes.items():
        setattr(todo, field, value)
    todo.save(update_fields=[*changes, "updated_at"])
    return todo


@transaction.atomic
def todo_delete(*, todo_id: int, owner: AbstractBaseUser | None = None) -> Todo | None:
    """Delete the owner's todo; return it as it was, or None when they had none."""
    todo = todos_of(owner).select_for_update().filter(pk=todo_id).first()
    if todo is None:
        return None
    Todo.objects.filter(pk=todo.pk).delete()
    return todo


def _locked_todo(*, todo_id: int, owner: AbstractBaseUser | None) -> Todo | None:
    """The owner's todo of that id, locked until the transaction ends; None
    when they have none."""
    query = _locked_todo_query(shared=owner is None)
    if owner is None:
        rows = query.rows(todo_id=todo_id)
    else:
        rows = query.rows(todo_id=todo_id, owner_id=owner.pk)
    if not rows:
        return None
    columns = [field.attname for field in Todo._meta.concrete_fields]
    return Todo.from_db(query.using, columns, rows[0])


@cache
def _locked_todo_query(*, shared: bool) -> CompiledQuery:
    """Every update's read, compiled once (api/compiled.py); compiled, like
    run, inside the update's transaction, as select_for_update() requires."""
    owner = None if shared else STAND_IN_OTHER_ID
    todos = todos_of(owner).select_for_update().filter(pk=STAND_IN_ID).order_by()
    todo_id = (STAND_IN_ID, Todo._meta.pk)
    if shared:
        return CompiledQuery.of(todos, todo_id=todo_id)
    owner_id = (STAND_IN_OTHER_ID, Todo._meta.get_field("owner"))
    return CompiledQuery.of(todos, todo_id=todo_id, owner_id=owner_id)
