"""The OpenAPI schema, the interactive docs and the browsable API."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_describes_every_endpoint_and_its_errors(schema):
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    expected = {
        "/api/v1/health/": {"get": {"200"}},
        "/api/v1/todos/": {"get": {"200", "400"}, "post": {"201", "400", "415"}},
        "/api/v1/todos/{todo_id}/": {
            "get": {"200", "404"},
            "put": {"200", "400", "404", "415"},
            "delete": {"200"},
        },
    }
    for path, operations in expected.items():
        for method, statuses in operations.items():
            documented = set(paths[path][method]["responses"])
            assert statuses <= documented, (path, method, documented)


def test_schema_error_bodies_name_the_error_key(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]


def test_schema_lists_only_writable_fields_for_create(schema):
    request_schema = schema["components"]["schemas"]["TodoInputRequest"]
    assert set(request_schema["properties"]) == {
        "title",
        "description",
        "completed",
        "deadline_at",
    }
    assert request_schema["required"] == ["title"]


@pytest.mark.parametrize("path", ["/api/v1/schema", "/api/v1/schema/"])
def test_schema_answers_with_and_without_slash(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/docs/"])
def test_docs_page_loads_swagger_ui_from_our_own_static_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_browsable_api_renders_html_in_a_browser(client):
    response = client.get("/api/v1/todos", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Todo List" in response.content.decode()


def test_json_is_the_default_for_programs(client):
    response = client.get("/api/v1/todos", HTTP_ACCEPT="*/*")
    assert response["Content-Type"] == "application/json"


def test_schema_says_delete_answers_a_todo_or_an_empty_object(schema):
    answer = schema["paths"]["/api/v1/todos/{todo_id}/"]["delete"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/Todo"},
        {"type": "object", "maxProperties": 0},
    ]


def test_schema_forbids_fields_a_client_may_not_send(schema):
    for name in ("TodoInputRequest", "PatchedTodoInputRequest"):
        assert schema["components"]["schemas"][name]["additionalProperties"] is False
