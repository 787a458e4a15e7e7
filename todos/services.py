"""Functions that write todos."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

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
    todo = todos_of(owner).select_for_update().filter(pk=todo_id).first()
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
