"""A person's path through the page, in real headless Chromium, against gunicorn
and a real Celery worker process: add todos, tick one, get the calendar.

Uses Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) driven by
Playwright; no browser is ever downloaded. Skipped, saying why, where Chromium is
missing, unless REQUIRED_SERVICES names "chromium" (CI does, after installing it).
Screenshots go to the test's folder, and also to SCREENSHOT_DIR when it is set.
"""

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
import requests

from tests.support.processes import django_run
from tests.support.services import require
from tests.support.stack import stack_env, web_server, worker

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # This machine has no network: keep Chromium from reaching for one.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# The browser's zone, so that "local time" is not UTC and conversion shows.
TIMEZONE = "Australia/Brisbane"  # UTC+10, no daylight saving


@pytest.fixture(scope="module")
def browser():
    require("chromium", os.path.exists(CHROMIUM), f"{CHROMIUM} (apt-get install)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def stack(tmp_path):
    env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with web_server(env, tmp_path / "logs") as base, worker(env, tmp_path / "logs"):
        yield base


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(
        viewport=DESKTOP, timezone_id=TIMEZONE, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console_errors = []
    page.on(
        "console",
        lambda message: (
            message.type == "error" and page.console_errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.goto(f"{stack}/")
    yield page
    context.close()


def save_screenshot(page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)


def add_todo(page, title: str, description: str = "", deadline: str = "") -> None:
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill(description)
    page.get_by_label("Deadline").fill(deadline)
    page.get_by_role("button", name="Add").click()
    page.get_by_role("checkbox", name=title).wait_for()


def api_todos(base: str) -> dict[str, dict]:
    todos = requests.get(f"{base}/api/v1/todos", timeout=5).json()
    return {todo["title"]: todo for todo in todos}


def test_a_person_adds_todos_ticks_one_and_downloads_the_calendar(
    page, stack, tmp_path
):
    # Given the page, when a person adds two todos through the form
    add_todo(page, "Buy milk", "Two litres", "2030-01-02T09:30")
    add_todo(page, "Walk the dog", "", "2030-01-03T18:00")
    # ... then the API holds them, deadlines sent as UTC from local time (UTC+10)
    todos = api_todos(stack)
    assert todos["Buy milk"]["deadline_at"] == "2030-01-01T23:30:00"
    assert todos["Buy milk"]["description"] == "Two litres"
    assert todos["Walk the dog"]["deadline_at"] == "2030-01-03T08:00:00"

    # When they tick one complete
    page.get_by_role("checkbox", name="Buy milk").check()
    page.locator(".todo.completed").wait_for()
    assert api_todos(stack)["Buy milk"]["completed"] is True
    assert api_todos(stack)["Walk the dog"]["completed"] is False

    # When they generate a calendar, they see the job move, then a Download link
    page.get_by_role("button", name="Generate calendar").click()
    download_link = page.get_by_role("link", name="Download")
    download_link.wait_for(timeout=30_000)
    assert "ready" in page.locator("#jobs").inner_text()
    save_screenshot(page, tmp_path, "page-desktop")

    # ... and the downloaded calendar holds both todos
    with page.expect_download() as download_info:
        download_link.click()
    download = download_info.value
    assert download.suggested_filename == "todos.ics"
    calendar = icalendar.Calendar.from_ical(Path(download.path()).read_bytes())
    events = {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {"Buy milk", "Walk the dog"}
    assert events["Buy milk"].decoded("DTSTART") == datetime(
        2030, 1, 1, 23, 30, tzinfo=UTC
    )
    assert events["Buy milk"]["CATEGORIES"].cats == ["Completed"]
    assert "CATEGORIES" not in events["Walk the dog"]

    # The console logged no errors along the way
    assert page.console_errors == []

    page.set_viewport_size(PHONE)
    save_screenshot(page, tmp_path, "page-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing sticks out sideways on a phone"


def test_an_api_error_shows_next_to_its_field_in_words(page, stack):
    page.get_by_role("button", name="Add").click()
    error = page.locator("#title-error")
    error.wait_for()
    assert error.inner_text() == "Title: This field may not be blank."
    assert page.get_by_label("Title").get_attribute("aria-invalid") == "true"
    assert api_todos(stack) == {}

    page.get_by_label("Title").fill("   ")
    page.get_by_label("Title").press("Enter")  # the keyboard submits the form too
    page.wait_for_function(
        "document.querySelector('#title-error').textContent.includes('blank')"
    )
    assert api_todos(stack) == {}


def test_editing_filtering_and_deleting_with_undo(page, stack):
    add_todo(page, "Old name", "old", "2020-01-01T08:00")
    add_todo(page, "Later", "", "2099-01-01T08:00")
    add_todo(page, "Someday")

    # The overdue todo stands out
    overdue = page.locator(".todo.overdue")
    assert overdue.count() == 1 and "Old name" in overdue.inner_text()

    # Edit title and description
    page.get_by_role("button", name="Edit Old name").click()
    page.get_by_label("Edit title").fill("New name")
    page.get_by_label("Edit description").fill("new words")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("checkbox", name="New name").wait_for()
    assert api_todos(stack)["New name"]["description"] == "new words"

    # Filters: due within 30 days keeps the overdue one only
    page.get_by_label("Due within (days)").fill("30")
    page.wait_for_function("document.querySelectorAll('.todo').length === 1")
    page.get_by_label("Due within (days)").fill("")
    page.get_by_label("Show").select_option(label="Not completed")
    page.wait_for_function("document.querySelectorAll('.todo').length === 3")

    # Delete, then undo: the todo stays
    page.get_by_role("button", name="Delete Someday").click()
    page.get_by_role("button", name="Undo deleting Someday").click()
    page.get_by_role("checkbox", name="Someday").wait_for()
    # Delete without undo: gone once the undo time is up
    page.get_by_role("button", name="Delete Later").click()
    page.wait_for_function(
        "!document.body.innerText.includes('Deleted “Later”')", timeout=15_000
    )
    assert set(api_todos(stack)) == {"New name", "Someday"}
    assert page.console_errors == []


@pytest.fixture
def accounts_stack(tmp_path):
    """The stack with ACCOUNTS=required and one user, alice."""
    env = stack_env(
        tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", ACCOUNTS="required"
    )
    made = django_run(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_user('alice', password='a-long-pass-9')\n",
        env,
    )
    assert made.returncode == 0, made.stderr
    with web_server(env, tmp_path / "logs") as base, worker(env, tmp_path / "logs"):
        yield base


def test_with_accounts_a_person_signs_in_subscribes_and_makes_a_token(
    browser, accounts_stack, tmp_path
):
    """Sign in (Django's login), add a todo (the session's CSRF token), copy
    the feed's address, which serves the todo, make a token, sign out."""
    context = browser.new_context(viewport=PHONE, timezone_id=TIMEZONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{accounts_stack}/")
    assert page.url.endswith("/accounts/login/?next=/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("a-long-pass-9")
    page.get_by_role("button", name="Sign in").click()
    add_todo(page, "Mine", deadline="2030-01-02T09:00")

    feed = page.locator("#feed-url")
    page.wait_for_function("document.getElementById('feed-url').value !== ''")
    assert page.locator("#feed-webcal").get_attribute("href").startswith("webcal://")
    deadline = datetime.now(UTC).timestamp() + 10
    while datetime.now(UTC).timestamp() < deadline:
        served = requests.get(feed.input_value(), timeout=5)
        if served.status_code == 200 and "SUMMARY:Mine" in served.text:
            break
    assert "SUMMARY:Mine" in served.text

    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    page.locator("#token-text").wait_for()
    token = page.locator("#token-text").input_value()
    mine = requests.get(
        f"{accounts_stack}/api/v1/todos",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert mine.status_code == 200, (mine.text, token)
    assert [todo["title"] for todo in mine.json()] == ["Mine"]
    page.get_by_role("listitem").filter(has_text="laptop").wait_for()
    save_screenshot(page, tmp_path, "page-accounts-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing sticks out sideways on a phone"

    page.get_by_role("button", name="Sign out").click()
    assert "/accounts/login/" in page.url
    assert not errors
    context.close()
