"""The list's JSON, written by the database and orjson, is the serializer's to
the byte; long lists stream in blocks; pages for clients that ask for them."""

import json
from datetime import UTC, datetime

import pytest
from rest_framework.renderers import JSONRenderer

from tests.support.api import API, assert_error
from todos import rendering
from todos.models import Todo
from todos.serializers import TodoSerializer

# Strings a writer gets wrong: quotes and backslashes, control characters, the
# two line separators JSON allows and JavaScript does not, non-ASCII, emoji.
AWKWARD_TEXT = [
    'say "hi" \\ back/slash',
    "tab\there\nnew line\r\x01\x1f\x7f",  # (PostgreSQL stores no NUL)
    "line\u2028separator\u2029paragraph",
    "émigré ünïcode 東京 🚀",
    "",
]


def serializer_bytes(todos) -> bytes:
    """What DRF gives for the same rows: the contract's reference."""
    return JSONRenderer().render(TodoSerializer(todos, many=True).data)


def body_of(content) -> bytes:
    return content if isinstance(content, bytes) else b"".join(content)


@pytest.fixture
def awkward_todos(make_todo):
    todos = []
    for n, text in enumerate(AWKWARD_TEXT):
        todos.append(
            make_todo(
                title=text or "blank description",
                description=None if n == 0 else text,
                completed=n % 2 == 0,
                deadline_at=None
                if n == 1
                else datetime(2023 + n, 2, 27, 13, 4, 5, tzinfo=UTC),
            )
        )
    # A created_at whose fraction is exactly zero: written with .000000.
    Todo.objects.filter(pk=todos[0].pk).update(
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2024, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
    )
    return todos


def test_the_list_is_the_serializers_bytes(awkward_todos):
    todos = Todo.objects.order_by("id")
    assert body_of(rendering.todos_json(owner=None)) == serializer_bytes(todos)


def test_a_filtered_list_is_the_serializers_bytes_of_its_todos(awkward_todos):
    done = Todo.objects.filter(completed=True).order_by("id")
    undated = Todo.objects.filter(deadline_at__isnull=True)
    assert 0 < done.count() < len(awkward_todos) and undated.exists()

    assert body_of(rendering.todos_json(owner=None, completed=True)) == (
        serializer_bytes(done)
    )
    # A window leaves undated todos out, and keeps every dated one here.
    dated = Todo.objects.filter(deadline_at__isnull=False).order_by("id")
    assert body_of(rendering.todos_json(owner=None, window=10**6)) == (
        serializer_bytes(dated)
    )


def test_a_long_list_streams_in_blocks_with_the_same_bytes(
    make_todo, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(rendering, "WHOLE_LIST_ROWS", 3)
    monkeypatch.setattr(rendering, "ROWS_PER_BLOCK", 2)
    for n in range(8):
        make_todo(title=f"todo {n}")
    todos = Todo.objects.order_by("id")

    content = rendering.todos_json(owner=None)

    assert not isinstance(content, bytes)
    blocks = list(content)
    assert len(blocks) == 1 + 3 + 1  # 3 rows, then 2 + 2 + 1, then the bracket
    assert b"".join(blocks) == serializer_bytes(todos)


def test_a_list_of_exactly_the_whole_list_size_is_complete(make_todo, monkeypatch):
    monkeypatch.setattr(rendering, "WHOLE_LIST_ROWS", 3)
    for n in range(3):
        make_todo(title=f"todo {n}")
    todos = Todo.objects.order_by("id")
    assert json.loads(body_of(rendering.todos_json(owner=None))) == json.loads(
        serializer_bytes(todos)
    )


def test_the_api_streams_a_long_list(api, make_todo, monkeypatch):
    monkeypatch.setattr(rendering, "WHOLE_LIST_ROWS", 2)
    for n in range(5):
        make_todo(title=f"todo {n}")

    response = api.get(f"{API}/todos")

    assert response.streaming
    assert response["Content-Type"] == "application/json"
    body = json.loads(b"".join(response.streaming_content))
    assert [todo["title"] for todo in body] == [f"todo {n}" for n in range(5)]


def test_the_browsable_api_and_indented_json_still_render(api, awkward_todos):
    html = api.get(f"{API}/todos", HTTP_ACCEPT="text/html")
    indented = api.get(f"{API}/todos", HTTP_ACCEPT="application/json; indent=2")
    assert html.status_code == 200 and "text/html" in html["Content-Type"]
    assert b'\n  {\n    "id"' in indented.content
    assert indented.json() == api.get(f"{API}/todos").json()


# --- pages --------------------------------------------------------------------


def test_pages_follow_the_next_link_to_the_end(api, make_todo):
    ids = [make_todo(title=f"todo {n}", completed=n % 2 == 0).pk for n in range(7)]
    seen, pages = [], 0
    url = f"http://testserver{API}/todos?limit=3&completed=true"
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [todo["id"] for todo in response.json()]
        pages += 1
        link = response.get("Link")
        url = link and link.split(">")[0].lstrip("<")
        assert not link or link.endswith('; rel="next"')

    assert seen == ids[0::2]
    assert pages == 2  # 3 + 1 todos: no empty last page


def test_a_page_in_the_browsable_api_is_the_same_page(api, make_todo):
    ids = [make_todo(title=f"todo {n}").pk for n in range(4)]
    plain = api.get(f"{API}/todos?limit=2&after=0")
    browsable = api.get(f"{API}/todos?limit=2&after=0&format=api")
    assert browsable.status_code == 200
    # The next page keeps the query, format included.
    assert browsable["Link"] == plain["Link"].replace(">", "&format=api>")
    assert f"limit=2&after={ids[1]}>" in plain["Link"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&after=x", "after"),
        ("after=3", "after"),
    ],
)
def test_bad_page_parameters_are_a_400_that_names_them(api, query, field):
    assert_error(api.get(f"{API}/todos?{query}"), 400, field)


def test_the_schema_declares_the_page_parameters_and_link(api):
    schema = api.get(f"{API}/schema?format=json").json()
    get = schema["paths"]["/api/v1/todos/"]["get"]
    names = {parameter["name"] for parameter in get["parameters"]}
    assert {"limit", "after"} <= names
    assert "Link" in get["responses"]["200"]["headers"]


# --- one todo -----------------------------------------------------------------


def test_one_todo_is_the_serializers_bytes(awkward_todos):
    for todo in Todo.objects.order_by("id"):
        expected = JSONRenderer().render(TodoSerializer(todo).data)
        assert rendering.todo_json(todo_id=todo.pk, owner=None) == expected


def test_one_todo_is_read_from_its_owners_todos_only(make_todo, django_user_model):
    alice = django_user_model.objects.create_user("alice", password="x" * 12)
    bob = django_user_model.objects.create_user("bob", password="x" * 12)
    hers = make_todo(title="hers", owner=alice)
    shared = make_todo(title="shared")

    assert json.loads(rendering.todo_json(todo_id=hers.pk, owner=alice))["title"] == (
        "hers"
    )
    assert rendering.todo_json(todo_id=hers.pk, owner=bob) is None
    assert rendering.todo_json(todo_id=hers.pk, owner=None) is None
    assert rendering.todo_json(todo_id=shared.pk, owner=alice) is None
    assert rendering.todo_json(todo_id=shared.pk + 1000, owner=None) is None


def test_the_api_answers_one_todo_in_json_and_in_the_browsable_api(api, awkward_todos):
    todo = awkward_todos[2]
    plain = api.get(f"{API}/todos/{todo.pk}")
    html = api.get(f"{API}/todos/{todo.pk}", HTTP_ACCEPT="text/html")
    indented = api.get(f"{API}/todos/{todo.pk}?format=json", HTTP_ACCEPT="*/*")

    assert plain.status_code == 200 and plain["Content-Type"] == "application/json"
    assert plain.content == JSONRenderer().render(TodoSerializer(todo).data)
    assert html.status_code == 200 and "text/html" in html["Content-Type"]
    assert indented.json() == plain.json()
