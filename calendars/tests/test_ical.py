"""calendars.ical: pure, fast, and valid RFC 5545 for every reader we know."""

from datetime import UTC, datetime, timedelta, timezone

import icalendar
import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream

from calendars.ical import PRODID, TodoEntry, calendar_ics, todo_uid

UPDATED = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
TRICKY_TITLE = "Plan, review; ship \\ 🚀 " + "überlange Überschrift " * 8
TRICKY_DESCRIPTION = "first line\nsecond, with; all \\ of them\n" + "😀" * 40


def entry(todo_id: int, **fields) -> TodoEntry:
    values = {
        "title": f"Todo {todo_id}",
        "description": None,
        "completed": False,
        "deadline_at": datetime(2023, 2, 27, 9, 30, tzinfo=UTC),
        "updated_at": UPDATED,
    }
    values.update(fields)
    return TodoEntry(id=todo_id, **values)


@pytest.fixture
def tricky() -> bytes:
    return calendar_ics(
        [
            entry(1, title=TRICKY_TITLE, description=TRICKY_DESCRIPTION),
            entry(2, completed=True, deadline_at=datetime(2023, 3, 1, tzinfo=UTC)),
            entry(3, deadline_at=None),
        ]
    )


def unfolded_lines(ics: bytes) -> list[str]:
    return ics.decode("utf-8").replace("\r\n ", "").split("\r\n")


def test_calendar_header_names_version_prodid_and_a_name(tricky):
    calendar = icalendar.Calendar.from_ical(tricky)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == PRODID == "-//Taskoverflow Calendar//mxm.dk//"
    assert calendar["X-WR-CALNAME"] and calendar["NAME"]


def test_one_event_per_dated_todo_with_its_fields(tricky):
    events = icalendar.Calendar.from_ical(tricky).walk("VEVENT")
    assert [str(event["UID"]) for event in events] == [todo_uid(1), todo_uid(2)]
    first, second = events
    assert str(first["SUMMARY"]) == TRICKY_TITLE
    assert str(first["DESCRIPTION"]) == TRICKY_DESCRIPTION
    assert first.decoded("DTSTART") == datetime(2023, 2, 27, 9, 30, tzinfo=UTC)
    assert first.decoded("DTSTAMP") == UPDATED
    assert "CATEGORIES" not in first
    assert second["CATEGORIES"].cats == ["Completed"]
    assert str(second["TRANSP"]) == "TRANSPARENT"
    assert "DESCRIPTION" not in second


def test_times_are_written_in_utc_with_z(tricky):
    lines = unfolded_lines(tricky)
    assert "DTSTART:20230227T093000Z" in lines
    assert "DTSTAMP:20230102T030405Z" in lines


def test_times_in_other_zones_are_converted_to_utc():
    brisbane = timezone(timedelta(hours=10))
    ics = calendar_ics(
        [entry(1, deadline_at=datetime(2023, 2, 27, 10, tzinfo=brisbane))]
    )
    assert "DTSTART:20230227T000000Z" in unfolded_lines(ics)


def test_text_is_escaped(tricky):
    lines = unfolded_lines(tricky)
    summary = next(line for line in lines if line.startswith("SUMMARY:Plan"))
    assert summary.startswith("SUMMARY:Plan\\, review\\; ship \\\\ 🚀")
    description = next(line for line in lines if line.startswith("DESCRIPTION:"))
    assert description.startswith(
        "DESCRIPTION:first line\\nsecond\\, with\\; all \\\\ of them\\n"
    )


def test_lines_end_in_crlf_and_fold_at_75_octets_between_characters(tricky):
    assert tricky.endswith(b"\r\n")
    physical = tricky.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in physical)
    assert max(len(line) for line in physical) <= 75
    assert any(line.startswith(b" ") for line in physical), "long lines fold"
    for line in physical:
        line.decode("utf-8")  # a split character would not decode


def test_the_same_todos_give_the_same_bytes_and_the_same_uids():
    todos = [entry(7, title="Stable"), entry(8)]
    assert calendar_ics(todos) == calendar_ics(list(todos))
    renamed = calendar_ics([entry(7, title="Renamed")])
    assert f"UID:{todo_uid(7)}" in unfolded_lines(renamed)


def test_no_todos_give_an_empty_but_valid_calendar():
    ics = calendar_ics([])
    assert icalendar.Calendar.from_ical(ics).walk("VEVENT") == []
    IcsCalendarStream.calendar_from_ics(ics.decode())


def test_strict_parser_reads_every_event(tricky):
    calendar = IcsCalendarStream.calendar_from_ics(tricky.decode("utf-8"))
    assert [event.uid for event in calendar.events] == [todo_uid(1), todo_uid(2)]
    assert calendar.events[0].summary == TRICKY_TITLE
    assert calendar.events[0].description == TRICKY_DESCRIPTION
    assert calendar.events[1].categories == ["Completed"]


def test_vobject_validates_it(tricky):
    calendar = vobject.readOne(tricky.decode("utf-8"))
    assert calendar.validate(raiseException=True)
    assert calendar.vevent.summary.value == TRICKY_TITLE
