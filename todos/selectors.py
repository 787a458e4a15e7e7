"""Functions that read todos."""

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from todos.models import Todo


def todo_list(
    *,
    completed: bool | None = None,
    window: int | None = None,
    now: datetime | None = None,
) -> QuerySet[Todo]:
    """Todos in ascending id order, filtered when a filter is given.

    `window` keeps the todos whose deadline is at most that many days from now,
    overdue ones included and undated ones left out.
    """
    todos = Todo.objects.order_by("id")
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
