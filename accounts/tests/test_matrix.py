"""ACCOUNTS=required, over every endpoint of the API (read from the schema, which
is generated from the URLs, so a new endpoint is covered without a word here):
two users, anonymous, a revoked and an expired token. No one reads or changes
what they do not own; every refusal is JSON; nothing answers 500 (the test
client raises on any server error)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from calendars.jobs import calendar_export_create
from calendars.models import CalendarFeed
from todos.models import Todo

PUBLIC = {"/api/v1/health", "/api/v1/schema", "/api/v1/docs"}
BODIES = {
    ("post", "/api/v1/todos"): {"title": "mine"},
    ("put", "/api/v1/todos/{todo_id}"): {"title": "taken over"},
    ("post", "/api/v1/tokens"): {"name": "mine"},
}


def api_operations() -> list[tuple[str, str]]:
    """(method, path template) of every operation the schema describes (the
    paths answer with and without a trailing slash; these are without)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path.rstrip("/"))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    )


def api_url_patterns(resolver=None, prefix: str = "") -> list[str]:
    """The regexes of every API view (not the JSON catch-all)."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += api_url_patterns(entry, pattern)
        elif isinstance(entry, URLPattern) and pattern.startswith("api/v1/^"):
            view = getattr(entry.callback, "cls", None)
            # The schema and its UI describe the API; they are not in it.
            if view is not None and not view.__module__.startswith("drf_spectacular"):
                found.append(pattern)
    return found


def test_the_schema_describes_every_api_view():
    """So iterating over the schema covers every endpoint."""
    paths = {path for _, path in api_operations()}
    assert len(paths) == len(api_url_patterns())
    assert {"/api/v1/tokens", "/api/v1/calendar/feed"} <= paths


@pytest.fixture
def bobs(as_bob, bob, settings, tmp_path):
    """Something of Bob's for each kind of path parameter."""
    settings.MEDIA_ROOT = tmp_path / "media"
    todo = Todo.objects.create(title="Bob's", owner=bob)
    export = calendar_export_create(owner=bob)
    token = bob.auth_token_set.get()
    feed_url = as_bob.get("/api/v1/calendar/feed").json()["url"]
    return {
        "todo_id": todo.pk,
        "task_id": export.pk,
        "token_id": token.public_id,
        "feed_url": feed_url,
    }


def concrete(path: str, objects: dict) -> str:
    for name, value in objects.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def send(client, method: str, template: str, objects: dict):
    body = BODIES.get((method, template))
    return getattr(client, method)(
        concrete(template, objects), body, format="json" if body else None
    )


def assert_json_refusal(response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "revoked_token", "expired_token"])
def test_no_one_without_a_working_token_gets_past_401(request, who, bobs):
    client = request.getfixturevalue(who) if who != "anonymous" else None
    if client is None:
        from accounts.tests.conftest import client_with

        client = client_with(None)
    for method, template in api_operations():
        response = send(client, method, template, bobs)
        if template in PUBLIC:
            assert response.status_code < 400 or template == "/api/v1/health"
            continue
        assert_json_refusal(response, 401)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    # And nothing of Bob's changed.
    assert Todo.objects.get(pk=bobs["todo_id"]).title == "Bob's"


@pytest.mark.django_db
def test_a_user_reaches_nothing_of_anothers(as_alice, bobs, bob):
    bobs_secret = CalendarFeed.objects.get(owner=bob).secret
    for method, template in api_operations():
        if template in PUBLIC:
            continue
        response = send(as_alice, method, template, bobs)
        assert response.status_code < 500, (method, template)
        if "{" in template:
            if (method, template) == ("delete", "/api/v1/todos/{todo_id}"):
                # The contract: {} for no such todo; another's is none of hers.
                assert (response.status_code, response.json()) == (200, {})
            else:
                assert_json_refusal(response, 404)
    # Bob's things are as they were, and what Alice made is hers.
    assert Todo.objects.get(pk=bobs["todo_id"]).title == "Bob's"
    assert bob.auth_token_set.filter(public_id=bobs["token_id"]).exists()
    assert CalendarFeed.objects.get(owner=bob).secret == bobs_secret
    assert as_alice.get("/api/v1/calendar/feed").json()["url"] != bobs["feed_url"]
    assert [t["title"] for t in as_alice.get("/api/v1/todos").json()] == ["mine"]
    assert [t["title"] for t in send(as_alice, "get", "/api/v1/todos", {}).json()] == [
        "mine"
    ]


@pytest.mark.django_db
def test_each_user_lists_and_changes_only_their_own(as_alice, as_bob):
    mine = as_alice.post("/api/v1/todos", {"title": "Alice's"}, format="json").json()
    as_bob.post("/api/v1/todos", {"title": "Bob's"}, format="json")
    assert [t["title"] for t in as_alice.get("/api/v1/todos").json()] == ["Alice's"]
    assert [t["title"] for t in as_bob.get("/api/v1/todos").json()] == ["Bob's"]
    assert as_bob.get(f"/api/v1/todos/{mine['id']}").status_code == 404
    changed = as_alice.put(
        f"/api/v1/todos/{mine['id']}", {"completed": True}, format="json"
    )
    assert changed.json()["completed"] is True
