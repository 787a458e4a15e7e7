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


# --- cross-site writes --------------------------------------------------------
# A page on another site can make a browser POST here (an HTML form, or fetch in
# no-cors mode) without reading the answer; browsers name where it came from.


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},  # sandboxed frames, file:// pages, opaque redirects
        {"Origin": "http://testserver.attacker.example"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
@pytest.mark.parametrize(
    "method, path",
    [("post", "/todos/ical"), ("post", "/todos"), ("delete", "/todos/1")],
)
def test_writes_from_another_site_are_refused_with_403_json(
    strict_client, headers, method, path
):
    response = getattr(strict_client, method)(f"/api/v1{path}", headers=headers)
    assert response.status_code == 403
    assert "cross-site" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts, the seed's clients: no Origin at all
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the person, a bookmark
        {"Origin": "https://partner.example", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_writes_from_this_site_from_allowed_origins_and_from_programs_pass(
    strict_client, settings, headers
):
    settings.CSRF_TRUSTED_ORIGINS = ["https://partner.example"]
    response = strict_client.post(
        "/api/v1/todos",
        {"title": "Allowed"},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 201, response.content


def test_reads_from_another_site_are_not_refused(strict_client):
    response = strict_client.get(
        "/api/v1/todos", headers={"Origin": "https://attacker.example"}
    )
    assert response.status_code == 200
