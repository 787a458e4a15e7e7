"""Functions that read todos."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from accounts.owners import owned_by
from todos.models import Todo


def todos_of(owner: AbstractBaseUser | int | None) -> QuerySet[Todo]:
    """The todos of one owner; None is the shared list of ACCOUNTS=open."""
    return owned_by(Todo.objects.all(), owner)


def todo_get(*, todo_id: int, owner: AbstractBaseUser | None) -> Todo | None:
    """The owner's todo of that id; None when there is none, or it is another's."""
    return todos_of(owner).filter(pk=todo_id).first()


def todo_list(
    *,
    owner: AbstractBaseUser | int | None = None,
    completed: bool | None = None,
    window: int | None = None,
    now: datetime | None = None,
) -> QuerySet[Todo]:
    """An owner's todos in ascending id order, filtered when a filter is given.

    `window` keeps the todos whose deadline is at most that many days from now,
    overdue ones included and undated ones left out.
    """
    todos = todos_of(owner).order_by("id")
    if completed is not None:
        todos = todos.filter(completed=completed)
    if window is not None:
        todos = todos.filter(deadline_at__isnull=False)
        try:
            cutoff = (now or timezone.now()) + timedelta(days=window)
        except OverflowError:
            cutoff = None  # past the year 9999: every dated todo is within it
        if cutoff is not None:
            todos = todos.filter(deadline_at__lte=cutoff)
    return todos
