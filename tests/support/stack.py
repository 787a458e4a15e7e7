"""TaskOverflow's own processes, run as people run them: gunicorn and Celery
workers on a migrated database; for tests and bench/."""

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.processes import (
    BIN,
    PROJECT_DIR,
    django_run,
    free_port,
    log_file,
    migrate,
    project_env,
    stop,
    wait_for_worker,
    wait_until,
)
from tests.support.services import fresh_database, moto_sqs, private_redis_queue

# What Compose runs, served over plain HTTP: production settings (DEBUG off),
# on the course's open contract (ACCOUNTS=open), as the hostile-client tests
# and the benchmarks against the account-less baselines want it.
PRODUCTION_OVER_HTTP = {
    "DEBUG": "false",
    "SECRET_KEY": "production-over-http-" + "k" * 40,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
    "ACCOUNTS": "open",
}


def stack_env(folder: Path, database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a web server and its workers, on a migrated database."""
    env = project_env(
        DATABASE_URL=database_url,
        MEDIA_ROOT=str(folder / "media"),
        CELERY_BROKER_FOLDER=str(folder / "broker"),
    )
    env.update(overrides)
    migrate(env)
    return env


@contextmanager
def web_server(env: dict[str, str], log_dir: Path, workers: int = 2) -> Iterator[str]:
    """gunicorn with the project's config on a free port; yields its base URL."""
    port = free_port()
    log = log_file(log_dir, "web")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:taskoverflow.gunicorn_conf"]
        + ["taskoverflow.wsgi"],
        cwd=PROJECT_DIR,
        env={**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return requests.get(f"{base}/api/v1/health", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_until(answering, timeout=30, what="gunicorn", process=process)
        yield base
    finally:
        stop(process)
        log.close()


def start_worker(
    env: dict[str, str], log_dir: Path, *, name: str = "worker", concurrency: int = 1
) -> subprocess.Popen:
    """A Celery worker, as the README starts it, once it says it is ready."""
    log_path = log_dir / f"{name}.log"
    log = log_file(log_dir, name)
    process = subprocess.Popen(
        [str(BIN / "celery"), "-A", "taskoverflow", "worker", "-l", "INFO"]
        + [f"--concurrency={concurrency}", f"--hostname={name}@%h"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group: a test can kill the whole worker, pool included.
        start_new_session=True,
    )
    log.close()
    try:
        wait_for_worker(process, log_path, timeout=60)
    except Exception:
        stop(process)
        raise
    return process


@contextmanager
def worker(env: dict[str, str], log_dir: Path, **kwargs) -> Iterator[subprocess.Popen]:
    process = start_worker(env, log_dir, **kwargs)
    try:
        yield process
    finally:
        stop(process)


def wait_for_job(base: str, task_url: str, *, timeout: float) -> tuple[str, float]:
    """Poll a job's status until it finishes; its final status and the time taken."""
    started = time.monotonic()
    while True:
        status = requests.get(task_url, timeout=5).json()["task_status"]
        elapsed = time.monotonic() - started
        if status in ("SUCCESS", "FAILURE") or elapsed > timeout:
            return status, elapsed
        time.sleep(0.01)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a worker's pool children)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def broker_env(broker: str, folder: Path, stack: ExitStack, *, name: str) -> dict:
    """The environment that selects a broker, with a queue of the caller's own
    (named after `name`, never shared with another run):

    "embedded": a folder under `folder`; a redis://HOST:PORT URL (no database
    number): a private queue in its database 0;
    "sqs": moto's SQS server, started for this stack.
    """
    if broker == "embedded":
        return {"CELERY_BROKER_FOLDER": str(folder / "broker")}
    if broker.startswith(("redis://", "rediss://")):
        return stack.enter_context(private_redis_queue(broker, name))
    if broker == "sqs":
        aws = stack.enter_context(moto_sqs(folder / "logs"))
        queue = f"{name}-{uuid.uuid4().hex[:8]}"
        return {"CELERY_BROKER_URL": "sqs://", "CELERY_DEFAULT_QUEUE": queue, **aws}
    raise ValueError(f"unknown broker {broker!r}: embedded, sqs or a redis:// URL")


@dataclass(frozen=True)
class RunningStack:
    base: str  # the web server's base URL
    env: dict[str, str]
    worker: subprocess.Popen | None


@contextmanager
def running_stack(
    folder: Path,
    *,
    database_url: str | None,
    broker: str = "embedded",
    name: str = "stack",
    web_workers: int = 2,
    worker_concurrency: int | None = 1,
    **overrides: str,
) -> Iterator[RunningStack]:
    """A whole TaskOverflow, as `make run` starts it: a fresh database of the
    suite's kind (`database_url` None: SQLite), migrated; a broker with a queue
    of its own; gunicorn; and a Celery worker (`worker_concurrency` None: none).
    Everything is stopped and dropped afterwards."""
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database(database_url, folder))
        env = stack_env(
            folder,
            database,
            **broker_env(broker, folder, stack, name=name),
            **overrides,
        )
        logs = folder / "logs"
        base = stack.enter_context(web_server(env, logs, workers=web_workers))
        process = None
        if worker_concurrency is not None:
            process = stack.enter_context(
                worker(env, logs, concurrency=worker_concurrency)
            )
        yield RunningStack(base=base, env=env, worker=process)


def add_todos(env: dict[str, str], count: int, *, first: int = 1) -> None:
    """Todos `first` to `first + count - 1`, straight into the stack's database
    (bulk inserts): every one with a deadline, titles of varied length, every
    third with a description that needs escaping in a calendar, every second done.
    Then the table's statistics are taken, as autovacuum takes them within a
    minute of a load this size: a query planned on the empty table's guesses
    would read every row for a page of them."""
    code = f"""
from datetime import UTC, datetime, timedelta
from django.db import connection
from todos.models import Todo
start = datetime(2030, 1, 1, 9, tzinfo=UTC)
Todo.objects.bulk_create(
    (
        Todo(
            title=f"Todo {{n}}: review, sign; file" + " and more" * (n % 12),
            description=None if n % 3 else f"Notes for {{n}}\\nwith \\\\ and 🚀",
            completed=n % 2 == 0,
            deadline_at=start + timedelta(minutes=n),
        )
        for n in range({first}, {first + count})
    ),
    batch_size=5000,
)
with connection.cursor() as cursor:
    cursor.execute(f"ANALYZE {{connection.ops.quote_name(Todo._meta.db_table)}}")
"""
    result = django_run(code, env, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"could not add todos: {result.stderr}")
