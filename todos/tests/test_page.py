"""The page at /: the parts a test can check without a browser."""

import re

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def label_for(page: str, field_id: str) -> str:
    match = re.search(rf'<label for="{field_id}">([^<]+)</label>', page)
    assert match, f"no label for {field_id}"
    return match.group(1)


def test_the_form_fields_have_visible_labels(page):
    assert label_for(page, "title") == "Title"
    assert label_for(page, "description") == "Description"
    assert label_for(page, "deadline") == "Deadline"
    assert 'id="deadline" name="deadline_at" type="datetime-local"' in page
    assert '<button type="submit">Add</button>' in page


def test_errors_are_announced_next_to_their_fields(page):
    for field in ("title", "description", "deadline"):
        assert f'id="{field}-error" class="error" role="alert"' in page
        assert re.search(
            rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error', page
        )


def test_filters_and_the_calendar_button_are_there(page):
    assert label_for(page, "filter-completed") == "Show"
    assert label_for(page, "filter-window") == "Due within (days)"
    assert '<button type="button" id="generate">Generate calendar</button>' in page
    assert 'aria-live="polite"' in page


def test_admin_and_api_docs_are_one_click_away(page):
    assert '<a href="/api/v1/docs">API docs</a>' in page
    assert '<a href="/admin/">Admin</a>' in page


def test_the_page_talks_to_the_api_it_names(page):
    assert 'data-api="/api/v1/todos"' in page
    assert 'data-ical="/api/v1/todos/ical"' in page


def test_it_fits_a_phone_and_loads_one_stylesheet_and_one_script(page):
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert page.count('rel="stylesheet"') == 1
    assert page.count("<script") == 1
