"""How todos cross the API: the list's fast path gives what DRF's fields give."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers

from todos.serializers import TodoInputSerializer, TodoSerializer


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


def test_input_serializers_each_bind_fields_of_their_own():
    """The declared fields are copied, not deep-copied, for each serializer:
    binding a copy, or making it optional, leaves the declared field and
    every other serializer's copy as they were."""
    declared = TodoInputSerializer._declared_fields
    created = TodoInputSerializer(data={"title": ""})
    changed = TodoInputSerializer(data={"title": ""}, partial=True)

    assert not created.is_valid() and "title" in created.errors
    assert not changed.is_valid() and "title" in changed.errors
    for name, field in declared.items():
        assert created.fields[name] is not field is not changed.fields[name]
        assert created.fields[name].parent is created
        assert changed.fields[name].parent is changed
        assert field.parent is None and field.field_name is None
    # Optional on create: set on that serializer's copy alone.
    assert created.fields["completed"].required is False
    assert declared["completed"].required is True
    # A partial one leaves every field's requirement to DRF's partial rule.
    assert changed.fields["completed"].required is True
    assert TodoInputSerializer(data={"title": "t"}).is_valid()
