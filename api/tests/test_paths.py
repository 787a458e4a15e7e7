"""An object's path is the one reverse() gives, under any script prefix."""

from uuid import uuid4

import pytest
from django.urls import clear_script_prefix, reverse, set_script_prefix

from api.paths import path_of


@pytest.fixture
def script_prefix():
    yield set_script_prefix
    clear_script_prefix()


@pytest.mark.parametrize("prefix", ["/", "/mounted/under/"])
def test_a_path_is_what_reverse_gives(script_prefix, prefix):
    script_prefix(prefix)
    job = uuid4()
    for todo_id in (1, 42, 10**17):
        expected = reverse("todos:detail", kwargs={"todo_id": todo_id})
        assert path_of("todos:detail", "todo_id", todo_id) == expected
    for name in ("status", "result"):
        expected = reverse(f"calendars:{name}", kwargs={"task_id": job})
        assert path_of(f"calendars:{name}", "task_id", job) == expected
    assert path_of("todos:detail", "todo_id", 7).startswith(prefix)
