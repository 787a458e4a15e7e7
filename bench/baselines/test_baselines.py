"""Smoke test of the baselines: each answers TaskOverflow's contract for real.

Not part of the default test run (pyproject's testpaths do not reach bench/).
Run it with

    .venv/bin/pytest bench/baselines/test_baselines.py

It starts the Flask API and the Flask + Celery stack as the bench does
(run.py), against a fresh PostgreSQL database migrated by TaskOverflow's own
migrations and the machine's Redis; the first run builds the baselines'
virtualenv (about a minute). PostgreSQL and Redis are taken from
TEST_POSTGRES_URL and TEST_REDIS_URL, as in the suite; without them the tests
are skipped, saying so, unless REQUIRED_SERVICES names them.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import icalendar
import psycopg
import pytest
import redis
import requests

from bench.baselines.run import (
    delete_redis_keys,
    ensure_baseline_venv,
    flask_api,
    flask_celery,
)
from tests.support import services
from tests.support.services import require

PROJECT_DIR = Path(__file__).resolve().parents[2]
POSTGRES_URL = services.POSTGRES_URL
# A database number apart from the suite's 0; every key is also under the
# stack's own prefix, deleted afterwards.
REDIS_URL = services.REDIS_URL + "/14"


def postgres_reachable() -> bool:
    return services.postgres_reachable(POSTGRES_URL)


def redis_reachable() -> bool:
    return services.redis_reachable(REDIS_URL)


def run_project_python(args: list[str], database_url: str) -> str:
    """TaskOverflow's Python, in the project, on `database_url`; its stdout."""
    env = {**os.environ, "DATABASE_URL": database_url}
    env["DJANGO_SETTINGS_MODULE"] = "taskoverflow.settings"
    result = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database with TaskOverflow's tables; dropped afterwards."""
    require("postgresql", postgres_reachable(), POSTGRES_URL)
    name = f"baseline_smoke_{uuid.uuid4().hex[:12]}"
    admin = urlsplit(POSTGRES_URL)
    admin_dsn = urlunsplit(admin._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(admin._replace(path=f"/{name}"))
        run_project_python(["manage.py", "migrate", "--noinput"], url)
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def venv() -> Path:
    return ensure_baseline_venv()


@pytest.fixture(scope="module")
def api(database_url: str, venv: Path, tmp_path_factory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("baseline-logs")
    with flask_api(database_url, workers=2, log_dir=logs, venv=venv) as base_url:
        yield f"{base_url}/api/v1"


def test_the_api_answers_the_contract(api: str) -> None:
    """Create, list, get, change and delete a todo; errors are JSON."""
    # Given a new todo, its deadline sent with an offset and a fraction.
    created = requests.post(
        f"{api}/todos",
        json={
            "title": "Write the report",
            "deadline_at": "2026-12-01T10:00:00.7+01:00",
        },
        timeout=10,
    )
    assert created.status_code == 201
    todo = created.json()
    assert created.headers["Location"] == f"{api}/todos/{todo['id']}"
    assert list(todo) == [
        "id",
        "title",
        "description",
        "completed",
        "deadline_at",
        "created_at",
        "updated_at",
    ]
    # Then the deadline is UTC in whole seconds, the stamps UTC with microseconds.
    assert todo["deadline_at"] == "2026-12-01T09:00:00"
    assert todo["description"] is None and todo["completed"] is False
    assert len(todo["created_at"]) == len("2026-11-27T08:11:23.123456")
    assert not todo["created_at"].endswith(("Z", "+00:00"))

    second = requests.post(f"{api}/todos/", json={"title": "Second"}, timeout=10)
    listed = requests.get(f"{api}/todos", timeout=10).json()
    ids = [item["id"] for item in listed]
    assert ids == sorted(ids) and {todo["id"], second.json()["id"]} <= set(ids)
    assert requests.get(f"{api}/todos/{todo['id']}/", timeout=10).json() == todo

    changed = requests.put(
        f"{api}/todos/{todo['id']}", json={"completed": True}, timeout=10
    )
    assert changed.status_code == 200
    assert changed.json() | {"updated_at": None} == todo | {
        "completed": True,
        "updated_at": None,
    }
    assert changed.json()["updated_at"] > todo["updated_at"]

    deleted = requests.delete(f"{api}/todos/{todo['id']}", timeout=10)
    assert deleted.status_code == 200 and deleted.json() == changed.json()
    assert requests.delete(f"{api}/todos/{todo['id']}", timeout=10).json() == {}

    for path in (f"todos/{todo['id']}", "todos/not-a-number", "todos/" + "9" * 30):
        missing = requests.get(f"{api}/{path}", timeout=10)
        assert missing.status_code == 404 and "error" in missing.json()
    missing = requests.put(f"{api}/todos/{todo['id']}", json={"title": "x"}, timeout=10)
    assert missing.status_code == 404 and "error" in missing.json()
    for body in ({}, {"description": "no title"}, {"title": "   "}, {"title": 5}):
        refused = requests.post(f"{api}/todos", json=body, timeout=10)
        assert refused.status_code == 400 and "title" in refused.json()["error"]
    refused = requests.post(f"{api}/todos", json={"title": "x", "id": 5}, timeout=10)
    assert refused.status_code == 400 and "id" in refused.json()["error"]
    refused = requests.get(f"{api}/todos?completed=maybe", timeout=10)
    assert refused.status_code == 400 and "completed" in refused.json()["error"]
    assert requests.get(f"{api}/health", timeout=10).json() == {"status": "ok"}


def test_the_api_shows_rows_as_taskoverflow_does(api: str, database_url: str) -> None:
    """Byte for byte, Flask's list is what TaskOverflow's serializer renders."""
    for body in (
        {"title": 'Café, ünïcode; and "quotes"', "description": "line\nbreak"},
        {"title": "Done", "completed": True, "deadline_at": "2023-04-05 14:00:00.000"},
    ):
        assert requests.post(f"{api}/todos", json=body, timeout=10).status_code == 201
    flask_body = requests.get(f"{api}/todos", timeout=10).content
    django_body = run_project_python(
        [
            "-c",
            "import django, sys; django.setup()\n"
            "from rest_framework.renderers import JSONRenderer\n"
            "from todos.models import Todo\n"
            "from todos.serializers import TodoSerializer\n"
            "data = TodoSerializer(Todo.objects.order_by('id'), many=True).data\n"
            "sys.stdout.buffer.write(JSONRenderer().render(data))\n",
        ],
        database_url,
    )
    # Flask ends its JSON with a newline; DRF does not.
    assert flask_body.rstrip(b"\n").decode() == django_body
    assert len(json.loads(django_body)) >= 2


def test_a_calendar_job_ends_in_success(database_url: str, venv: Path, tmp_path):
    """POST /todos/ical → SUCCESS through a real worker; the .ics holds the event."""
    require("redis", redis_reachable(), REDIS_URL)
    with flask_celery(
        database_url, REDIS_URL, log_dir=tmp_path, workers=1, venv=venv
    ) as stack:
        api = f"{stack.base_url}/api/v1"
        dated = requests.post(
            f"{api}/todos",
            json={"title": "Ship it", "deadline_at": "2026-12-01T09:00:00"},
            timeout=10,
        ).json()
        undated = requests.post(
            f"{api}/todos", json={"title": "Someday"}, timeout=10
        ).json()

        created = requests.post(f"{api}/todos/ical", timeout=10)
        assert created.status_code == 202
        job = created.json()
        assert created.headers["Location"] == job["task_url"]
        deadline = time.monotonic() + 30
        while (status := requests.get(job["task_url"], timeout=10).json())[
            "task_status"
        ] not in ("SUCCESS", "FAILURE"):
            assert time.monotonic() < deadline, f"job still {status} after 30 s"
            time.sleep(0.02)
        assert status["task_id"] == job["task_id"]
        assert status["task_status"] == "SUCCESS"

        result = requests.get(status["result_url"], timeout=10)
        assert result.status_code == 200
        assert result.headers["Content-Type"] == "text/calendar; charset=utf-8"
        calendar = icalendar.Calendar.from_ical(result.content)
        events = {str(event["UID"]): event for event in calendar.walk("VEVENT")}
        assert str(events[f"todo-{dated['id']}@taskoverflow"]["SUMMARY"]) == "Ship it"
        assert f"todo-{undated['id']}@taskoverflow" not in events
        # Celery alone cannot tell an id it never issued from a queued job.
        unknown = requests.get(
            f"{api}/todos/ical/{uuid.uuid4()}/status", timeout=10
        ).json()
        assert unknown["task_status"] == "PENDING"
        prefix = f"{stack.queue}:"
        assert redis.Redis.from_url(REDIS_URL).keys(f"{prefix}*")
    # The stack's keys, results and queue included, went with it.
    assert not redis.Redis.from_url(REDIS_URL).keys(f"{prefix}*")
    assert delete_redis_keys(venv, REDIS_URL, prefix=prefix) == 0
