import pytest
from rest_framework.test import APIClient

from todos.models import Todo


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_todo(db):
    """Create a todo straight in the database, bypassing the API."""

    def make(**fields) -> Todo:
        fields.setdefault("title", "A todo")
        return Todo.objects.create(**fields)

    return make
