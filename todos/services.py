"""Functions that write todos."""

from datetime import datetime
from typing import Any

from django.db import transaction

from todos.models import Todo


def todo_create(
    *,
    title: str,
    description: str | None = None,
    completed: bool = False,
    deadline_at: datetime | None = None,
) -> Todo:
    return Todo.objects.create(
        title=title,
        description=description,
        completed=completed,
        deadline_at=deadline_at,
    )


@transaction.atomic
def todo_update(*, todo_id: int, changes: dict[str, Any]) -> Todo | None:
    """Change the given fields, and only those; `updated_at` moves on every update.

    None when there is no such todo, also when a delete got there first: the
    row is locked from its read to its write, so a concurrent delete either
    waits for this update or wins before it reads.
    """
    todo = Todo.objects.select_for_update().filter(pk=todo_id).first()
    if todo is None:
        return None
    for field, value in changes.items():
        setattr(todo, field, value)
    todo.save(update_fields=[*changes, "updated_at"])
    return todo


@transaction.atomic
def todo_delete(*, todo_id: int) -> Todo | None:
    """Delete a todo; return it as it was, or None when there was none."""
    todo = Todo.objects.select_for_update().filter(pk=todo_id).first()
    if todo is None:
        return None
    Todo.objects.filter(pk=todo.pk).delete()
    return todo
