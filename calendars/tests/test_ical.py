"""calendars.ical: pure, fast, and valid RFC 5545 for every reader we know.

The streamed writer is held to the icalendar-object reference: the same todos
built both ways give the same content lines once unfolded, and the same events,
property by property, once parsed.
"""

import random
import re
from datetime import UTC, datetime, timedelta, timezone

import icalendar
import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream

from calendars.ical import (
    PRODID,
    TodoEntry,
    calendar_chunks,
    calendar_ics,
    calendar_ics_reference,
    calendar_row_chunks,
    escape_text,
    event_chunk,
    fold_line,
    format_utc,
    todo_uid,
)

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


@pytest.fixture(params=[calendar_ics, calendar_ics_reference], ids=lambda f: f.__name__)
def writer(request):
    """Each test of the calendar's content holds for the stream and the reference."""
    return request.param


@pytest.fixture
def tricky(writer) -> bytes:
    return writer(
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


def test_times_in_other_zones_are_converted_to_utc(writer):
    brisbane = timezone(timedelta(hours=10))
    ics = writer([entry(1, deadline_at=datetime(2023, 2, 27, 10, tzinfo=brisbane))])
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


def test_the_same_todos_give_the_same_bytes_and_the_same_uids(writer):
    todos = [entry(7, title="Stable"), entry(8)]
    assert writer(todos) == writer(list(todos))
    renamed = writer([entry(7, title="Renamed")])
    assert f"UID:{todo_uid(7)}" in unfolded_lines(renamed)


def test_no_todos_give_an_empty_but_valid_calendar(writer):
    ics = writer([])
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


# --- the stream against the icalendar-object reference ----------------------------

BRISBANE = timezone(timedelta(hours=10))
NEW_YORK = timezone(timedelta(hours=-5))


def varied_todos() -> list[TodoEntry]:
    """Todos that exercise every rule of escaping and folding, and every field."""
    todos = [
        entry(1, title=TRICKY_TITLE, description=TRICKY_DESCRIPTION),
        entry(2, title="x" * 200, description="y" * 5000, completed=True),
        entry(3, title="😀" * 200, description="中文" * 2500),
        entry(4, title="\\" * 200, description=",;" * 2500),
        entry(5, title="crlf\r\nlf\ncr\rend", description="\n\n", completed=True),
        entry(6, title="tab\there", description=""),
        entry(
            7,
            deadline_at=datetime(2023, 2, 27, 10, 15, tzinfo=BRISBANE),
            updated_at=datetime(2023, 1, 2, 3, 4, 5, 999999, tzinfo=NEW_YORK),
        ),
        entry(8, deadline_at=None),
        entry(9, title="a" * 67),  # SUMMARY: and 67 octets make 75: not folded
        entry(10, title="a" * 68),  # 76: folded
    ]
    # Each multi-byte character and each escape meets the fold at every offset.
    for filler in ("é", "中", "😀", "\\", ",", "\n"):
        for offset in range(4):
            todos.append(
                entry(
                    len(todos) + 1,
                    title="a" * offset + filler * 60,
                    description="b" * offset + filler * 60,
                )
            )
    return todos


# No "N": icalendar's own escaping reads a written backslash-N as a line break
# (see test_a_backslash_before_n_is_kept_as_written).
ALPHABET = list("aZ ,;\\:\"'\t") + ["\n", "\r\n", "\r", "é", "ß", "中", "😀", "\xa0"]


def random_todos(*, seed: int, count: int) -> list[TodoEntry]:
    rng = random.Random(seed)

    def text(longest: int) -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, longest)))

    def moment() -> datetime:
        return datetime(1950, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(150 * 365 * 86400),
            microseconds=rng.randrange(1_000_000),
        )

    return [
        TodoEntry(
            id=todo_id,
            title=text(200),
            description=rng.choice([None, "", text(600)]),
            completed=rng.random() < 0.5,
            deadline_at=rng.choice(
                [None, moment(), moment().astimezone(BRISBANE).replace(microsecond=0)]
            ),
            updated_at=moment().astimezone(NEW_YORK),
        )
        for todo_id in range(1, count + 1)
    ]


TODO_SETS = pytest.mark.parametrize(
    "todos",
    [varied_todos(), random_todos(seed=8, count=300)],
    ids=["varied", "random"],
)


def properties(component) -> list[tuple]:
    """Every property of a parsed component, in order: name, value, parameters."""
    return [
        (name, component.decoded(name), dict(value.params))
        for name, value in component.items()
    ]


@TODO_SETS
def test_the_stream_is_the_reference_line_for_line_once_unfolded(todos):
    streamed = unfolded_lines(calendar_ics(todos))
    assert streamed == unfolded_lines(calendar_ics_reference(todos))
    assert streamed.count("BEGIN:VEVENT") == sum(
        t.deadline_at is not None for t in todos
    )


@TODO_SETS
def test_the_stream_has_the_reference_events_property_by_property(todos):
    streamed = icalendar.Calendar.from_ical(calendar_ics(todos))
    reference = icalendar.Calendar.from_ical(calendar_ics_reference(todos))

    assert properties(streamed) == properties(reference)
    streamed_events = streamed.walk("VEVENT")
    reference_events = reference.walk("VEVENT")
    assert len(streamed_events) == sum(t.deadline_at is not None for t in todos)
    for mine, theirs in zip(streamed_events, reference_events, strict=True):
        assert properties(mine) == properties(theirs)


@TODO_SETS
def test_rows_with_written_times_give_the_same_stream_as_todos(todos):
    rows = [
        (
            todo.id,
            todo.title,
            todo.description,
            todo.completed,
            format_utc(todo.deadline_at),
            format_utc(todo.updated_at),
        )
        for todo in todos
        if todo.deadline_at is not None
    ]
    assert list(calendar_row_chunks(rows)) == list(calendar_chunks(todos))


def as_read(text: str) -> str:
    """A value as a reader gives it back: every kind of line break is one \\n."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@TODO_SETS
def test_strict_readers_read_back_every_value(todos):
    ics = calendar_ics(todos).decode("utf-8")
    dated = [todo for todo in todos if todo.deadline_at is not None]

    events = IcsCalendarStream.calendar_from_ics(ics).events
    assert [
        (e.uid, e.summary, e.description, e.dtstart, e.dtstamp, e.categories)
        for e in events
    ] == [
        (
            todo_uid(todo.id),
            as_read(todo.title),
            as_read(todo.description) if todo.description else None,
            todo.deadline_at.replace(microsecond=0),
            todo.updated_at.replace(microsecond=0),
            ["Completed"] if todo.completed else [],
        )
        for todo in dated
    ]
    assert vobject.readOne(ics).validate(raiseException=True)


def test_a_backslash_before_n_is_kept_as_written():
    """icalendar's own escaping turns a written backslash-N into a line break."""
    title = "C:\\New folder\\Notes"
    ics = calendar_ics([entry(1, title=title)])
    assert str(icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]["SUMMARY"]) == title
    assert IcsCalendarStream.calendar_from_ics(ics.decode()).events[0].summary == title


def test_control_characters_are_left_out_so_strict_readers_accept_the_calendar():
    ics = calendar_ics(
        [entry(1, title="ring\x07 the bell", description="form\x0cfeed")]
    )
    event = IcsCalendarStream.calendar_from_ics(ics.decode()).events[0]
    assert (event.summary, event.description) == ("ring the bell", "formfeed")


# --- the writer's parts -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, escaped",
    [
        ("plain", "plain"),
        ("a,b;c\\d", "a\\,b\\;c\\\\d"),
        ("one\ntwo\r\nthree\rfour", "one\\ntwo\\nthree\\nfour"),
        ("C:\\New", "C:\\\\New"),
        ("tab\tkept", "tab\tkept"),
        ("bell\x07 nul\x00 esc\x1b del\x7f", "bell nul esc del"),
        ("no\xa0break 😀", "no\xa0break 😀"),
    ],
)
def test_escape_text(text, escaped):
    assert escape_text(text) == escaped


def test_format_utc_drops_fractions_and_converts_offsets():
    assert format_utc(datetime(2023, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == (
        "20230102T030405Z"
    )
    five_east = timezone(timedelta(hours=5))
    assert format_utc(datetime(2023, 1, 2, 8, 4, 5, tzinfo=five_east)) == (
        "20230102T030405Z"
    )
    assert format_utc(datetime(999, 1, 2, tzinfo=UTC)) == "09990102T000000Z"


def escape_boundaries(text: str) -> set[int]:
    """Offsets, in characters, where a character or a whole escape begins."""
    return {match.start() for match in re.finditer(r"\\.|.", text, re.DOTALL)}


@pytest.mark.parametrize("offset", range(4))
@pytest.mark.parametrize("filler", ["é", "中", "😀", "\\", ",", "\n", "a"])
def test_fold_line_splits_between_characters_and_escapes(filler, offset):
    text = "SUMMARY:" + escape_text("a" * offset + filler * 100)
    line = text.encode()

    folded = fold_line(line)

    physical = folded.split(b"\r\n")
    assert len(physical) > 1
    assert all(len(piece) <= 75 for piece in physical)
    assert all(piece.startswith(b" ") for piece in physical[1:])
    assert folded.replace(b"\r\n ", b"") == line
    pieces = [physical[0]] + [piece[1:] for piece in physical[1:]]
    cuts, position = [], 0
    for piece in pieces[:-1]:
        position += len(piece.decode("utf-8"))  # a split character would not decode
        cuts.append(position)
    assert set(cuts) <= escape_boundaries(text)


def test_fold_line_leaves_75_octets_alone_and_folds_76():
    assert fold_line(b"x" * 75) == b"x" * 75
    assert fold_line(b"x" * 76) == b"x" * 75 + b"\r\n x"


def test_the_stream_is_the_header_one_chunk_per_dated_todo_and_the_footer():
    todos = [entry(1), entry(2, deadline_at=None), entry(3, completed=True)]

    chunks = list(calendar_chunks(todos))

    assert len(chunks) == 4
    assert chunks[0].startswith(b"BEGIN:VCALENDAR\r\n") and b"VEVENT" not in chunks[0]
    assert chunks[1:3] == [event_chunk(todos[0]), event_chunk(todos[2])]
    for chunk in chunks[1:3]:
        assert chunk.startswith(b"BEGIN:VEVENT\r\n") and chunk.endswith(
            b"END:VEVENT\r\n"
        )
        assert chunk.count(b"BEGIN:VEVENT") == 1
    assert chunks[3] == b"END:VCALENDAR\r\n"


def test_the_stream_reads_todos_one_at_a_time():
    pulled = []

    def todos():
        for todo_id in range(1, 1001):
            pulled.append(todo_id)
            yield entry(todo_id)

    stream = calendar_chunks(todos())
    next(stream)  # the header
    first_event = next(stream)

    assert pulled == [1]
    assert f"UID:{todo_uid(1)}\r\n".encode() in first_event


def test_an_undated_todo_has_no_event():
    with pytest.raises(ValueError, match="no deadline"):
        event_chunk(entry(1, deadline_at=None))
