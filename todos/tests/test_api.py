"""The todo API under /api/v1, row by row and error by error."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.support.api import API, assert_error, send
from todos.models import Todo

ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
ISO_MICROSECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


# --- GET /todos ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/todos", "/todos/"])
def test_list_is_an_empty_array_when_there_are_no_todos(api, path):
    response = api.get(f"{API}{path}")
    assert response.status_code == 200
    assert response.json() == []


def test_list_is_in_ascending_id_order_with_every_field(api, make_todo):
    first = make_todo(title="first", description="d", completed=True)
    second = make_todo(
        title="second", deadline_at=datetime(2023, 2, 27, 0, 0, 0, tzinfo=UTC)
    )

    body = api.get(f"{API}/todos").json()

    assert [todo["id"] for todo in body] == [first.pk, second.pk]
    assert set(body[0]) == {
        "id",
        "title",
        "description",
        "completed",
        "deadline_at",
        "created_at",
        "updated_at",
    }
    assert body[0]["description"] == "d" and body[0]["completed"] is True
    assert body[0]["deadline_at"] is None
    assert body[1]["deadline_at"] == "2023-02-27T00:00:00"
    assert ISO_MICROSECONDS.match(body[1]["created_at"])
    assert ISO_MICROSECONDS.match(body[1]["updated_at"])


@pytest.fixture
def spread(make_todo):
    """Todos due at different distances from now, some completed."""
    now = timezone.now()
    return {
        "overdue": make_todo(title="overdue", deadline_at=now - timedelta(days=5)),
        "soon": make_todo(
            title="soon", deadline_at=now + timedelta(days=1), completed=True
        ),
        "later": make_todo(title="later", deadline_at=now + timedelta(days=10)),
        "undated": make_todo(title="undated", completed=True),
    }


def listed_titles(api, query: str) -> list[str]:
    response = api.get(f"{API}/todos?{query}")
    assert response.status_code == 200, response.content
    return [todo["title"] for todo in response.json()]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("completed=true", ["soon", "undated"]),
        ("completed=false", ["overdue", "later"]),
        ("completed=True", ["soon", "undated"]),
        ("window=2", ["overdue", "soon"]),
        ("window=0", ["overdue"]),
        ("window=30", ["overdue", "soon", "later"]),
        ("window=999999999999", ["overdue", "soon", "later"]),
        ("completed=false&window=2", ["overdue"]),
        ("completed=true&window=30", ["soon"]),
        ("format=json&unrelated=1", ["overdue", "soon", "later", "undated"]),
    ],
)
def test_list_filters_and_their_combinations(api, spread, query, expected):
    assert listed_titles(api, query) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, field",
    [
        ("completed=yes", "completed"),
        ("completed=1", "completed"),
        ("completed=", "completed"),
        ("window=abc", "window"),
        ("window=-1", "window"),
        ("window=1.5", "window"),
        ("window=", "window"),
        ("window=%EF%BC%91", "window"),  # a full-width digit one
        ("completed=true&window=x", "window"),
    ],
)
def test_list_rejects_any_other_filter_value(api, query, field):
    assert_error(api.get(f"{API}/todos?{query}"), 400, field)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "completed=false", "window=30"])
def test_a_list_of_10000_todos_streams_in_order_in_two_queries(
    api, django_assert_num_queries, query
):
    deadline = timezone.now() + timedelta(days=1)
    Todo.objects.bulk_create(
        (
            Todo(title=f"todo {number}", deadline_at=deadline)
            for number in range(10_000)
        ),
        batch_size=2000,
    )

    # The first rows, then the rest on one cursor (todos/rendering.py).
    with django_assert_num_queries(2):
        response = api.get(f"{API}/todos?{query}")
        listed = json.loads(b"".join(response.streaming_content))

    assert response.status_code == 200
    assert len(listed) == 10_000
    assert [todo["id"] for todo in listed] == sorted(todo["id"] for todo in listed)


# --- GET /todos/{id} ----------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_get_one_todo(api, make_todo, slash):
    todo = make_todo(title="one", description=None)
    response = api.get(f"{API}/todos/{todo.pk}{slash}")
    assert response.status_code == 200
    assert response.json()["id"] == todo.pk
    assert response.json()["title"] == "one"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "todo_id", ["999", "abc", "1.5", "-1", "99999999999999999999999", "%20"]
)
def test_get_unknown_or_non_numeric_id_is_404_json(api, todo_id):
    assert_error(api.get(f"{API}/todos/{todo_id}"), 404)


# --- POST /todos --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/todos", "/todos/"])
def test_create_answers_201_with_the_todo_and_its_location(api, path):
    response = send(
        api,
        "POST",
        path,
        {
            "title": "Buy milk",
            "description": "two litres",
            "completed": True,
            "deadline_at": "2023-02-27T00:00:00",
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    todo = Todo.objects.get()
    assert body["id"] == todo.pk
    assert body["title"] == "Buy milk"
    assert body["description"] == "two litres"
    assert body["completed"] is True
    assert body["deadline_at"] == "2023-02-27T00:00:00"
    assert ISO_MICROSECONDS.match(body["created_at"])
    assert response["Location"].endswith(f"{API}/todos/{todo.pk}")
    assert api.get(response["Location"]).json() == body


@pytest.mark.django_db
def test_create_with_only_a_title_takes_the_defaults(api):
    body = send(api, "POST", "/todos", {"title": "Just this"}).json()
    assert body["description"] is None
    assert body["completed"] is False
    assert body["deadline_at"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sent, shown",
    [
        ("2023-02-27T00:00:00", "2023-02-27T00:00:00"),
        ("2023-04-05 14:00:00.000", "2023-04-05T14:00:00"),
        ("2023-04-05T14:00:00.987654", "2023-04-05T14:00:00"),
        ("2023-04-05T14:00:00Z", "2023-04-05T14:00:00"),
        ("2023-04-05T14:00:00+10:00", "2023-04-05T04:00:00"),
        ("2023-04-05T23:30:00-02:00", "2023-04-06T01:30:00"),
    ],
)
def test_create_accepts_each_deadline_form_and_shows_utc_seconds(api, sent, shown):
    response = send(api, "POST", "/todos", {"title": "t", "deadline_at": sent})
    assert response.status_code == 201, response.content
    assert response.json()["deadline_at"] == shown
    assert ISO_SECONDS.match(shown)
    stored = Todo.objects.get().deadline_at
    assert stored.utcoffset() == timedelta(0)
    assert stored.isoformat(timespec="seconds") == shown + "+00:00"


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "owner"])
def test_create_refuses_fields_a_client_may_not_set(api, field):
    response = send(api, "POST", "/todos", {"title": "t", field: 7})
    assert_error(response, 400, field)
    assert not Todo.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"description": "no title"}, "title"),
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 123}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "nul\u0000"}, "title"),
        ({"title": "t", "description": "x" * 5001}, "description"),
        ({"title": "t", "description": 5}, "description"),
        ({"title": "t", "completed": "yes"}, "completed"),
        ({"title": "t", "completed": "true"}, "completed"),
        ({"title": "t", "completed": 1}, "completed"),
        ({"title": "t", "completed": None}, "completed"),
        ({"title": "t", "deadline_at": "tomorrow"}, "deadline_at"),
        ({"title": "t", "deadline_at": "2023-02-30T00:00:00"}, "deadline_at"),
        ({"title": "t", "deadline_at": 1677456000}, "deadline_at"),
        ({"title": "t", "deadline_at": "9999-12-31T23:00:00-05:00"}, "deadline_at"),
    ],
)
def test_create_refuses_wrong_values_naming_the_field(api, body, field):
    assert_error(send(api, "POST", "/todos", body), 400, field)
    assert not Todo.objects.exists()


@pytest.mark.django_db
def test_create_accepts_the_longest_title_and_description(api):
    response = send(
        api, "POST", "/todos", {"title": "x" * 200, "description": "y" * 5000}
    )
    assert response.status_code == 201
    assert len(response.json()["title"]) == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw, words",
    [
        ('{"title": ', ["JSON"]),
        ("[1, 2]", ["JSON object", "array"]),
        ('"a string"', ["JSON object", "string"]),
        ("null", ["JSON object", "null"]),
        ("42", ["JSON object", "number"]),
        ('{"title": NaN}', ["JSON"]),
        (b'{"title": "\xff"}', ["JSON"]),
        ("[" * 100_000, ["JSON"]),
    ],
)
def test_create_refuses_bodies_that_are_not_a_json_object(api, raw, words):
    assert_error(send(api, "POST", "/todos", raw), 400, *words)
    assert not Todo.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type, raw",
    [
        ("text/plain", '{"title": "t"}'),
        ("application/x-www-form-urlencoded", "title=t"),
        ("multipart/form-data; boundary=x", "--x--"),
    ],
)
def test_create_refuses_content_that_is_not_json(api, content_type, raw):
    response = send(api, "POST", "/todos", raw, content_type=content_type)
    assert_error(response, 415, content_type.split(";")[0])
    assert not Todo.objects.exists()


@pytest.mark.django_db
def test_create_refuses_a_body_over_the_limit_with_413(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = send(api, "POST", "/todos", {"title": "t", "description": "x" * 2000})
    assert_error(response, 413, "1000 bytes")
    assert not Todo.objects.exists()


# --- PUT /todos/{id} ----------------------------------------------------------


@pytest.fixture
def todo(make_todo):
    return make_todo(
        title="Original",
        description="keep",
        deadline_at=datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC),
    )


@pytest.mark.parametrize("slash", ["", "/"])
def test_update_changes_only_the_fields_sent(api, todo, slash):
    before = api.get(f"{API}/todos/{todo.pk}").json()

    response = send(api, "PUT", f"/todos/{todo.pk}{slash}", {"completed": True})

    assert response.status_code == 200, response.content
    after = response.json()
    assert after["completed"] is True
    for unchanged in ("id", "title", "description", "deadline_at", "created_at"):
        assert after[unchanged] == before[unchanged]
    assert after["updated_at"] > before["updated_at"]
    assert api.get(f"{API}/todos/{todo.pk}").json() == after


def test_update_can_change_every_writable_field_and_clear_the_deadline(api, todo):
    response = send(
        api,
        "PUT",
        f"/todos/{todo.pk}",
        {
            "title": "New",
            "description": None,
            "completed": True,
            "deadline_at": None,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["description"], body["deadline_at"]) == (
        "New",
        None,
        None,
    )


def test_update_moves_updated_at_on_every_update(api, todo):
    stamps = [
        send(api, "PUT", f"/todos/{todo.pk}", {"title": f"v{n}"}).json()["updated_at"]
        for n in range(3)
    ]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


@pytest.mark.parametrize(
    "body, field",
    [
        ({"id": 5}, "id"),
        ({"title": "sneaky", "id": 5}, "id"),
        ({"created_at": "2020-01-01T00:00:00"}, "created_at"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"completed": "yes"}, "completed"),
        ({"deadline_at": "soon"}, "deadline_at"),
    ],
)
def test_update_refuses_bad_fields_and_changes_nothing(api, todo, body, field):
    before = api.get(f"{API}/todos/{todo.pk}").json()
    assert_error(send(api, "PUT", f"/todos/{todo.pk}", body), 400, field)
    assert api.get(f"{API}/todos/{todo.pk}").json() == before


def test_update_refuses_bodies_that_are_not_json_objects(api, todo):
    before = api.get(f"{API}/todos/{todo.pk}").json()
    assert_error(send(api, "PUT", f"/todos/{todo.pk}", "[]"), 400, "JSON object")
    assert_error(
        send(api, "PUT", f"/todos/{todo.pk}", "title=x", content_type="text/plain"),
        415,
    )
    assert api.get(f"{API}/todos/{todo.pk}").json() == before


@pytest.mark.django_db
@pytest.mark.parametrize("todo_id", ["12345", "abc"])
def test_update_unknown_id_is_404(api, todo_id):
    assert_error(send(api, "PUT", f"/todos/{todo_id}", {"title": "x"}), 404)
    assert not Todo.objects.exists()


# --- DELETE /todos/{id} -------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_delete_answers_the_deleted_todo_then_empty_object(api, todo, slash):
    shown = api.get(f"{API}/todos/{todo.pk}").json()

    response = api.delete(f"{API}/todos/{todo.pk}{slash}")

    assert response.status_code == 200
    assert response.json() == shown
    assert not Todo.objects.filter(pk=todo.pk).exists()
    again = api.delete(f"{API}/todos/{todo.pk}{slash}")
    assert again.status_code == 200
    assert again.json() == {}


@pytest.mark.django_db
def test_delete_of_an_id_that_never_existed_is_200_empty_object(api):
    response = api.delete(f"{API}/todos/424242")
    assert response.status_code == 200
    assert response.json() == {}


# --- edge cases ---------------------------------------------------------------


@pytest.mark.django_db
def test_todos_never_hit_a_500_on_lone_surrogates(api):
    raw = '{"title": "\\ud800"}'
    assert_error(send(api, "POST", "/todos", raw), 400, "title")


# --- races and floods ---------------------------------------------------------


def test_an_update_that_loses_a_race_with_a_delete_is_404(api, todo):
    """A DELETE commits after the PUT began and before the PUT locks the row."""

    def delete_first(execute, sql, params, many, context):
        # The update's first statement on the todo, inside the test's
        # transaction: its UPDATE ... RETURNING (within a WITH on PostgreSQL,
        # beside the feed's count), or its locked SELECT where there is no
        # RETURNING.
        in_transaction = not context["connection"].get_autocommit()
        first = sql.startswith(("UPDATE", "SELECT", "WITH")) and '"todos_todo"' in sql
        if in_transaction and first:
            context["connection"].cursor().execute(
                'DELETE FROM "todos_todo" WHERE "id" = %s', [todo.pk]
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(delete_first):
        response = send(api, "PUT", f"/todos/{todo.pk}", {"title": "after"})

    assert_error(response, 404, str(todo.pk))
    assert not Todo.objects.exists()


@pytest.mark.django_db
def test_writes_are_throttled_per_client_and_reads_are_not(api, settings):
    settings.TODO_WRITE_RATE_LIMIT = "3/min"
    created = [send(api, "POST", "/todos", {"title": f"t{n}"}) for n in range(2)]
    changed = send(api, "PUT", f"/todos/{created[0].json()['id']}", {"title": "t"})

    refused = [
        send(api, "POST", "/todos", {"title": "one too many"}),
        send(api, "PUT", f"/todos/{created[0].json()['id']}", {"title": "x"}),
        api.delete(f"{API}/todos/{created[1].json()['id']}"),
    ]
    read = api.get(f"{API}/todos")
    other_client = api.post(
        f"{API}/todos", {"title": "someone else"}, format="json", REMOTE_ADDR="10.9.8.7"
    )

    assert [r.status_code for r in created] == [201, 201] and changed.status_code == 200
    for response in refused:
        assert_error(response, 429, "throttled")
        assert 0 < int(response["Retry-After"]) <= 60
    assert read.status_code == 200 and len(read.json()) == 2
    assert other_client.status_code == 201
