"""Functions that write todos."""

from datetime import datetime
from functools import cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, router, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from accounts.owners import OwnedQuery
from api.compiled import (
    STAND_IN_ID,
    Along,
    can_write_along,
    instance_of,
    instance_of_row,
    save_row,
    statement_along,
    update_sql,
    written_row,
)
from todos.models import Todo
from todos.selectors import todos_of
from todos.signals import todo_write_along


def todo_create(
    *,
    title: str,
    description: str | None = None,
    completed: bool = False,
    deadline_at: datetime | None = None,
    owner: AbstractBaseUser | None = None,
) -> Todo:
    """Create a todo. The todo and its owner's feed change (calendars/feeds.py)
    happen together: in one statement on PostgreSQL (todo_write_along), where
    a transaction of the two took four round trips; elsewhere in one
    transaction, which waits for the disk once, not twice."""
    todo = Todo(
        owner=owner,
        title=title,
        description=description,
        completed=completed,
        deadline_at=deadline_at,
    )
    using = router.db_for_write(Todo)
    if can_write_along(connections[using]):
        save_row(todo, along=_along(owner, using))
    else:
        with transaction.atomic(using=using):
            save_row(todo)
    return todo


def todo_update(
    *, todo_id: int, changes: dict[str, Any], owner: AbstractBaseUser | None = None
) -> Todo | None:
    """Change the given fields, and only those; `updated_at` moves on every update.

    None when the owner has no such todo, also when a delete got there first:
    one UPDATE ... RETURNING writes the row and reads it back, its row locked
    until it commits, so a concurrent delete either waits for this update or
    wins before it. The owner's feed counts the change in the same statement
    on PostgreSQL (todo_write_along), and in the same transaction elsewhere,
    where post_save's receivers write. Where the database has no RETURNING,
    the row is read, locked, and then written.
    """
    connection = connections[router.db_for_write(Todo)]
    if can_write_along(connection):
        along = _along(owner, connection.alias)
        return _update_returning(todo_id, changes, owner, connection, along)
    with transaction.atomic(using=connection.alias):
        if not connection.features.can_return_columns_from_insert:
            return _update_after_locked_read(
                todo_id=todo_id, changes=changes, owner=owner
            )
        return _update_returning(todo_id, changes, owner, connection, ())


def _along(owner: AbstractBaseUser | None, using: str) -> tuple[Along, ...]:
    """What todo_write_along's receivers ask to run with a write of the owner's."""
    answers = todo_write_along.send(
        sender=Todo, owner_id=None if owner is None else owner.pk, using=using
    )
    return tuple(answer for _, answer in answers if answer is not None)


def _update_returning(
    todo_id: int,
    changes: dict[str, Any],
    owner: AbstractBaseUser | None,
    connection,
    along: tuple[Along, ...],
) -> Todo | None:
    written = (*changes, "updated_at")
    values = [*changes.values(), timezone.now()]
    params = [
        Todo._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in zip(written, values, strict=True)
    ]
    params.append(todo_id)
    if owner is not None:
        params.append(owner.pk)
    sql = update_sql(
        Todo,
        connection.alias,
        written,
        (("id", "="), ("owner", "IS NULL" if owner is None else "=")),
        returning=True,
    )
    if along:
        sql, params = statement_along(sql, params, along)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    row = written_row(row, along, len(Todo._meta.concrete_fields))
    todo = instance_of_row(Todo, connection.alias, row)
    post_save.send(
        sender=Todo,
        instance=todo,
        created=False,
        update_fields=frozenset(written),
        raw=False,
        using=connection.alias,
        written_along=bool(along),
    )
    return todo


def _update_after_locked_read(
    *, todo_id: int, changes: dict[str, Any], owner: AbstractBaseUser | None
) -> Todo | None:
    todo = _locked_todo(todo_id=todo_id, owner=owner)
    if todo is None:
        return None
    for field, value in changes.items():
        setattr(todo, field, value)
    save_row(todo, update_fields=[*changes, "updated_at"])
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
    query = _locked_todo_query()
    rows = query.rows(owner, todo_id=todo_id)
    if not rows:
        return None
    return instance_of(Todo, query.shared.using, rows[0])


@cache
def _locked_todo_query() -> OwnedQuery:
    """Every update's read, compiled once (api/compiled.py); compiled, like
    run, inside the update's transaction, as select_for_update() requires."""
    return OwnedQuery.of(
        lambda owner: (
            todos_of(owner).select_for_update().filter(pk=STAND_IN_ID).order_by()
        ),
        todo_id=(STAND_IN_ID, Todo._meta.pk),
    )
