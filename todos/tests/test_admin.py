from datetime import UTC, datetime

import pytest

from todos.models import Todo


@pytest.fixture
def todos(make_todo):
    make_todo(title="Buy milk", deadline_at=datetime(2030, 1, 1, tzinfo=UTC))
    make_todo(title="Walk dog", completed=True)


def test_changelist_shows_title_completed_and_deadline(admin_client, todos):
    response = admin_client.get("/admin/todos/todo/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Buy milk" in page and "Walk dog" in page
    for column in ("column-title", "column-completed", "column-deadline_at"):
        assert column in page


def test_changelist_searches_by_title(admin_client, todos):
    response = admin_client.get("/admin/todos/todo/", {"q": "milk"})
    assert list(response.context["cl"].queryset) == [Todo.objects.get(title="Buy milk")]


def test_changelist_filters_by_completed_and_deadline(admin_client, todos):
    done = admin_client.get("/admin/todos/todo/", {"completed__exact": "1"})
    assert [t.title for t in done.context["cl"].queryset] == ["Walk dog"]
    dated = admin_client.get("/admin/todos/todo/", {"deadline_at__isnull": "False"})
    assert [t.title for t in dated.context["cl"].queryset] == ["Buy milk"]


def test_admin_can_add_a_todo(admin_client, db):
    response = admin_client.post(
        "/admin/todos/todo/add/",
        {"title": "From the admin", "description": "", "completed": "on"},
    )
    assert response.status_code == 302
    todo = Todo.objects.get()
    assert todo.title == "From the admin" and todo.completed is True


def test_admin_requires_login(client, db):
    response = client.get("/admin/todos/todo/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
