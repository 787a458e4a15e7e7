"""Todos in, iCalendar (RFC 5545) bytes out. Pure: no database, no Celery, no files."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import icalendar

PRODID = "-//Taskoverflow Calendar//mxm.dk//"
CALENDAR_NAME = "TaskOverflow todos"
UID_DOMAIN = "taskoverflow"


@dataclass(frozen=True, slots=True)
class TodoEntry:
    """What a calendar needs to know of one todo."""

    id: int
    title: str
    description: str | None
    completed: bool
    deadline_at: datetime | None
    updated_at: datetime


def todo_uid(todo_id: int) -> str:
    """The same todo keeps the same UID in every export, so calendars update it."""
    return f"todo-{todo_id}@{UID_DOMAIN}"


def todo_event(todo: TodoEntry) -> icalendar.Event:
    """One VEVENT for a todo that has a deadline."""
    if todo.deadline_at is None:
        raise ValueError(f"todo {todo.id} has no deadline, so no event")
    event = icalendar.Event()
    event.add("uid", todo_uid(todo.id))
    # DTSTAMP from updated_at: the same data always gives the same bytes.
    event.add("dtstamp", todo.updated_at.astimezone(UTC))
    event.add("dtstart", todo.deadline_at.astimezone(UTC))
    event.add("summary", todo.title)
    if todo.description:
        event.add("description", todo.description)
    if todo.completed:
        # VEVENT has no "completed" status; apps show categories, and a
        # transparent (free) event is drawn as done-with.
        event.add("categories", ["Completed"])
        event.add("transp", "TRANSPARENT")
    return event


def calendar_ics(todos: Iterable[TodoEntry], *, name: str = CALENDAR_NAME) -> bytes:
    """A calendar with one event per todo that has a deadline; others are left out."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    for todo in todos:
        if todo.deadline_at is not None:
            calendar.add_component(todo_event(todo))
    return calendar.to_ical()
