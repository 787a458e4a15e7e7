"""The service as the quick start runs it: gunicorn, SQLite, real processes."""

import subprocess
import sys
import time
import uuid

import requests

from tests.support.processes import PROJECT_DIR, django_run
from tests.support.stack import stack_env, web_server

WORKER_SCRIPT = """
import os, sys, django
os.environ['DJANGO_SETTINGS_MODULE'] = 'taskoverflow.settings'
django.setup()
from django.db import OperationalError, transaction
from todos.models import Todo
name, count = sys.argv[1], int(sys.argv[2])
failures = 0
for n in range(count):
    try:
        with transaction.atomic():
            # Read, then write: the pattern that makes a deferred transaction
            # fail at once with "database is locked" when another holds the lock.
            Todo.objects.filter(completed=False).count()
            todo = Todo.objects.create(title=f'{name} {n}')
            todo.completed = True
            todo.save()
    except OperationalError as error:
        failures += 1
        print(error, file=sys.stderr)
print(failures)
"""


def test_gunicorn_serves_the_api_and_the_admin_static_files(server):
    assert requests.get(f"{server}/api/v1/health", timeout=5).json() == {"status": "ok"}
    created = requests.post(
        f"{server}/api/v1/todos",
        json={"title": "Over HTTP", "deadline_at": "2023-04-05 14:00:00.000"},
        timeout=5,
    )
    assert created.status_code == 201
    assert created.json()["deadline_at"] == "2023-04-05T14:00:00"
    listed = requests.get(f"{server}/api/v1/todos/", timeout=5).json()
    assert [todo["title"] for todo in listed] == ["Over HTTP"]
    bad = requests.post(
        f"{server}/api/v1/todos",
        data="{",
        timeout=5,
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and "error" in bad.json()
    css = requests.get(f"{server}/static/admin/css/base.css", timeout=5)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    page = requests.get(f"{server}/", timeout=5)
    assert page.status_code == 200 and "Generate calendar" in page.text
    for asset in ("app.css", "app.js"):
        assert requests.get(f"{server}/static/{asset}", timeout=5).status_code == 200
    docs = requests.get(f"{server}/api/v1/docs", timeout=5)
    assert docs.status_code == 200
    swagger_js = requests.get(
        f"{server}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        timeout=5,
    )
    assert swagger_js.status_code == 200


def test_sqlite_takes_concurrent_writers_without_database_is_locked(sqlite_env):
    """Two processes (a web server and a worker, say) write the same file at once."""
    writes_each = 300
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, name, str(writes_each)],
            cwd=PROJECT_DIR,
            env=sqlite_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("web", "worker", "another")
    ]
    results = [writer.communicate(timeout=120) for writer in writers]

    for stdout, stderr in results:
        assert stdout.strip() == "0", stderr
    count = django_run(
        "from todos.models import Todo\n"
        "print(Todo.objects.filter(completed=True).count())",
        sqlite_env,
    )
    assert count.stdout.strip() == str(3 * writes_each), count.stderr


def test_web_processes_sharing_a_redis_cache_share_each_client_s_count(
    tmp_path, shared_redis, database_url
):
    """Two servers (as two gunicorn processes, or two machines) on one
    CACHE_URL: a client's 3/min is counted once across both, not per process."""
    prefix = f"throttle-{uuid.uuid4().hex[:8]}"  # counts of this test's own
    env = stack_env(
        tmp_path,
        database_url,
        CACHE_URL=f"{shared_redis}/2?key_prefix={prefix}",
        ICAL_RATE_LIMIT="3/min",
        ICAL_MAX_QUEUED_PER_CLIENT="0",
    )
    logs = tmp_path / "logs"
    with (
        web_server(env, logs, workers=1) as one,
        web_server(env, logs, workers=1) as two,
    ):
        # Counts are per minute: start early in one, so that none resets mid-test.
        if time.time() % 60 > 40:
            time.sleep(61 - time.time() % 60)
        answers = [
            requests.post(f"{base}/api/v1/todos/ical", timeout=10).status_code
            for base in (one, two, one, two)
        ]

    assert answers == [202, 202, 202, 429]
