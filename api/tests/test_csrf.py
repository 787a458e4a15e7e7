"""The API takes no cookies, so CSRF checks never stand in a client's way."""

import json

import pytest
from django.test import Client

from api.errors import csrf_failure

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_writes_need_no_csrf_token(strict_client, make_todo):
    todo = make_todo(title="before")
    response = strict_client.put(
        f"/api/v1/todos/{todo.pk}", {"title": "after"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert strict_client.delete(f"/api/v1/todos/{todo.pk}").status_code == 200


@pytest.mark.parametrize("method", ["put", "delete", "post", "patch"])
def test_unknown_urls_answer_404_json_to_every_method(strict_client, method):
    response = getattr(strict_client, method)("/api/v1/todos/abc")
    assert response.status_code == 404
    assert "error" in response.json()


def test_a_refused_csrf_check_answers_json_under_the_api_and_html_elsewhere(rf):
    api = csrf_failure(rf.post("/api/v1/todos"), reason="CSRF cookie not set.")
    assert api.status_code == 403
    assert json.loads(api.content) == {
        "error": "CSRF check failed: CSRF cookie not set."
    }
    page = csrf_failure(rf.post("/admin/login/"), reason="CSRF cookie not set.")
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")
