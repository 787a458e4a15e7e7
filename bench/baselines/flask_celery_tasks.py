"""The Celery side of the plain alternative's calendar jobs (the course's week 7).

The todos ride in the message as `to_dict()` gives them; the task builds the
calendar with the icalendar library, one `Event` per todo, and returns its text,
which Celery keeps in the Redis result backend. Configured from the environment,
as the course's design is:

    CELERY_BROKER_URL      redis://127.0.0.1:6379/N
    CELERY_RESULT_BACKEND  redis://127.0.0.1:6379/N
    CELERY_DEFAULT_QUEUE   the queue (default "ical")

The worker: `celery -A flask_celery_tasks worker -l INFO`, from this folder.
"""

import os
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from icalendar import Calendar, Event

# TaskOverflow's calendar (README.md, "Calendar jobs"), so that both build the
# same events from the same todos.
PRODID = "-//Taskoverflow Calendar//mxm.dk//"
CALENDAR_NAME = "TaskOverflow todos"

celery = Celery(__name__)
celery.conf.broker_url = os.environ.get("CELERY_BROKER_URL")
celery.conf.result_backend = os.environ.get("CELERY_RESULT_BACKEND")
celery.conf.task_default_queue = os.environ.get("CELERY_DEFAULT_QUEUE", "ical")

# Not part of the design: the bench shares the machine's Redis with other runs,
# so it puts every key of a run (queue, bindings, results) under a prefix of its
# own and deletes them afterwards. Costs nothing measurable.
if key_prefix := os.environ.get("BASELINE_REDIS_KEY_PREFIX"):
    celery.conf.broker_transport_options = {"global_keyprefix": key_prefix}
    celery.conf.result_backend_transport_options = {"global_keyprefix": key_prefix}


def utc(text: str) -> datetime:
    """A date-time of `to_dict()`: UTC, without a suffix."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@celery.task(name="ical")
def create_ical(todos: list[dict[str, Any]]) -> str:
    """The calendar of these todos: one VEVENT per todo that has a deadline."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", CALENDAR_NAME)
    calendar.add("x-wr-calname", CALENDAR_NAME)
    for todo in todos:
        if todo["deadline_at"] is None:
            continue
        event = Event()
        event.add("uid", f"todo-{todo['id']}@taskoverflow")
        event.add("dtstamp", utc(todo["updated_at"]))
        event.add("dtstart", utc(todo["deadline_at"]))
        event.add("summary", todo["title"])
        if todo["description"]:
            event.add("description", todo["description"])
        if todo["completed"]:
            event.add("categories", ["Completed"])
            event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")
