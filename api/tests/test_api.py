"""What every endpoint shares: health, and JSON for unknown URLs and methods."""

import pytest

from tests.support.api import API, assert_error

# --- health -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health", "/health/"])
def test_health_answers_ok(api, path):
    response = api.get(f"{API}{path}")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- everything else under the API --------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path",
    [("PATCH", "/todos/1"), ("DELETE", "/todos"), ("POST", "/health")],
)
def test_methods_not_offered_are_405_json(api, method, path):
    assert_error(api.generic(method, f"{API}{path}"), 405, method)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/nothing", "/todos/1/extra", "/todo"])
def test_unknown_api_paths_are_404_json(api, path):
    assert_error(api.get(f"{API}{path}"), 404, path)


# --- ?format= -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/health", "/todos", "/todos/1", "/todos/ical", "/schema", "/nothing"],
)
def test_an_unknown_format_is_404_json_naming_it(api, path):
    response = api.get(f"{API}{path}?format=xml")
    assert_error(response, 404, "xml" if path != "/nothing" else path)


@pytest.mark.django_db
def test_the_known_formats_still_answer(api):
    assert api.get(f"{API}/todos?format=json").json() == []
    assert api.get(f"{API}/todos?format=api")["Content-Type"].startswith("text/html")
