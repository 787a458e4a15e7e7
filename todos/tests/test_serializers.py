"""How todos cross the API: the list's fast path gives what DRF's fields give."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers

from todos.serializers import TodoSerializer


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "Only a title"},
        {"title": "Everything", "description": "", "completed": True},
        {"title": "Deadline", "deadline_at": datetime(2023, 2, 27, 9, 30, tzinfo=UTC)},
        {
            "title": "Elsewhere",
            "description": "line one\nline two 🚀",
            "deadline_at": datetime(
                2023, 2, 27, 9, tzinfo=timezone(timedelta(hours=10))
            ),
        },
    ],
)
def test_todo_representation_is_what_drf_fields_give(make_todo, fields):
    todo = make_todo(**fields)
    todo.refresh_from_db()
    serializer = TodoSerializer(todo)

    fast = serializer.to_representation(todo)
    by_fields = serializers.ModelSerializer.to_representation(serializer, todo)

    assert list(fast.items()) == list(by_fields.items())
