from datetime import UTC, datetime, timedelta

import pytest

from todos.selectors import todo_list

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def todos(make_todo):
    return {
        "overdue": make_todo(title="overdue", deadline_at=NOW - timedelta(days=3)),
        "today": make_todo(title="today", deadline_at=NOW + timedelta(hours=1)),
        "edge": make_todo(title="edge", deadline_at=NOW + timedelta(days=2)),
        "later": make_todo(
            title="later", deadline_at=NOW + timedelta(days=2, seconds=1)
        ),
        "undated": make_todo(title="undated", completed=True),
    }


def titles(queryset) -> list[str]:
    return [todo.title for todo in queryset]


def test_without_filters_every_todo_in_id_order(todos):
    assert titles(todo_list(now=NOW)) == [
        "overdue",
        "today",
        "edge",
        "later",
        "undated",
    ]


def test_window_keeps_overdue_and_due_up_to_its_end_inclusive(todos):
    assert titles(todo_list(window=2, now=NOW)) == ["overdue", "today", "edge"]


def test_window_zero_keeps_what_is_due_by_now(todos):
    assert titles(todo_list(window=0, now=NOW)) == ["overdue"]


def test_window_past_the_year_9999_keeps_every_dated_todo(todos):
    assert titles(todo_list(window=10**12, now=NOW)) == [
        "overdue",
        "today",
        "edge",
        "later",
    ]


def test_completed_filter_combines_with_window(todos):
    todos["today"].completed = True
    todos["today"].save()
    assert titles(todo_list(completed=True, now=NOW)) == ["today", "undated"]
    assert titles(todo_list(completed=True, window=2, now=NOW)) == ["today"]
    assert titles(todo_list(completed=False, window=2, now=NOW)) == [
        "overdue",
        "edge",
    ]


def test_the_largest_window_a_filter_keeps_still_reaches_past_the_year_9999(todos):
    from todos.serializers import MAX_WINDOW_DAYS

    far_future = datetime(9999, 12, 31, tzinfo=UTC)
    todos["later"].deadline_at = far_future
    todos["later"].save()
    assert "later" in titles(todo_list(window=MAX_WINDOW_DAYS, now=NOW))
