"""The image's entrypoint and what it runs before the command (prestart.py):
a bounded wait for the database; migrations applied by the web and migrate
roles, awaited by the worker."""

import socket
import subprocess
import threading
import time
from contextlib import contextmanager

import psycopg
import pytest

from tests.support.entrypoint import ENTRYPOINT, as_in_the_image
from tests.support.processes import PROJECT_DIR, django_run, free_port, project_env


def entrypoint(command: list[str], env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        [str(ENTRYPOINT), *command],
        cwd=PROJECT_DIR,
        env=as_in_the_image(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tables(database_url: str) -> set[str]:
    with psycopg.connect(database_url, connect_timeout=5) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_the_web_role_migrates_before_its_command(postgres_database, tmp_path):
    env = project_env(DATABASE_URL=postgres_database, MEDIA_ROOT=str(tmp_path))

    result = entrypoint(["gunicorn", "--version"], env)

    assert result.returncode == 0, result.stderr
    assert "the database at 127.0.0.1:5432/" in result.stdout
    assert "Applying todos.0001_initial... OK" in result.stdout
    assert "gunicorn" in result.stdout.splitlines()[-1]  # then the command ran
    assert {"todos_todo", "calendars_calendarexport"} <= tables(postgres_database)


def test_the_worker_role_waits_for_migrations_and_never_applies_them(
    postgres_database, tmp_path
):
    """A worker on an unmigrated database gives up, saying what to run; once
    the migrate role has run, it starts."""
    env = project_env(
        DATABASE_URL=postgres_database,
        MEDIA_ROOT=str(tmp_path),
        DATABASE_WAIT_TIMEOUT="3",
    )

    before = entrypoint(["celery", "--version"], env)
    migrated = entrypoint(["migrate"], env)
    after = entrypoint(["celery", "--version"], env)

    assert before.returncode == 1
    assert (
        "waiting for" in before.stdout and "migrations to be applied" in before.stdout
    )
    assert "Run the migrate role first" in before.stderr
    assert "Applying" not in before.stdout
    assert migrated.returncode == 0, migrated.stderr
    assert "Applying todos.0001_initial... OK" in migrated.stdout
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip().splitlines()[-1][0].isdigit()  # celery's version


def test_web_containers_starting_together_migrate_one_at_a_time(
    postgres_database, tmp_path
):
    """Two web tasks of a new deploy: both start, the tables are made once."""
    env = as_in_the_image(
        project_env(DATABASE_URL=postgres_database, MEDIA_ROOT=str(tmp_path))
    )
    starts = [
        subprocess.Popen(
            [str(ENTRYPOINT), "gunicorn", "--version"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [start.communicate(timeout=180) for start in starts]

    for start, (_, stderr) in zip(starts, outputs, strict=True):
        assert start.returncode == 0, stderr
    applied = [stdout.count("Applying todos.0001_initial") for stdout, _ in outputs]
    assert sorted(applied) == [0, 1]


def test_it_gives_up_on_a_database_that_never_answers_and_says_so(tmp_path):
    port = free_port()  # nothing listens there
    marker = tmp_path / "command-ran"
    env = project_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/taskoverflow",
        DATABASE_WAIT_TIMEOUT="2",
    )

    started = time.monotonic()
    result = entrypoint(["touch", str(marker)], env, timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert f"gave up waiting for the database at 127.0.0.1:{port}/taskoverflow " in (
        result.stderr
    )
    assert "after 2 s" in result.stderr
    assert "Check DATABASE_URL" in result.stderr
    assert "waiting for the database" in result.stdout  # it did retry
    assert 2 <= elapsed < 30
    assert not marker.exists(), "the command must not run without a database"


@contextmanager
def late_proxy(port: int, target: tuple[str, int], after: float):
    """Accept on `port` only after `after` seconds, then relay to `target`."""
    stop = threading.Event()

    def relay(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def serve() -> None:
        if stop.wait(after):
            return
        with socket.create_server(("127.0.0.1", port)) as server:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(target, timeout=5)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=relay, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def test_it_waits_for_a_database_that_comes_up_late(postgres_database, tmp_path):
    port = free_port()
    late_url = postgres_database.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    assert late_url != postgres_database
    env = project_env(
        DATABASE_URL=late_url, DATABASE_WAIT_TIMEOUT="30", MEDIA_ROOT=str(tmp_path)
    )

    with late_proxy(port, ("127.0.0.1", 5432), after=2.0):
        result = entrypoint(["python", "--version"], env)

    assert result.returncode == 0, result.stderr
    assert "waiting for the database" in result.stdout
    assert f"the database at 127.0.0.1:{port}/" in result.stdout


@pytest.fixture
def ecs_metadata_uri():
    from tests.support.deployment import ecs_metadata

    with ecs_metadata(["10.0.1.23"]) as uri:
        yield uri


PRINT_ALLOWED_HOSTS = ["python", "-c", "import os; print(os.environ['ALLOWED_HOSTS'])"]


@pytest.mark.parametrize(
    "readable, allowed_hosts", [(True, "example.com,10.0.1.23"), (False, "example.com")]
)
def test_on_ecs_the_tasks_own_address_is_an_allowed_host(
    readable, allowed_hosts, ecs_metadata_uri, tmp_path
):
    """Unreadable metadata is a warning, not a failure to start: the load
    balancer then finds the task unhealthy rather than nothing starting."""
    uri = ecs_metadata_uri if readable else f"http://127.0.0.1:{free_port()}/v4"
    env = project_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ALLOWED_HOSTS="example.com",
        ECS_CONTAINER_METADATA_URI_V4=uri,
    )
    result = entrypoint(PRINT_ALLOWED_HOSTS, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == allowed_hosts
    assert (f"ECS task metadata unreadable at {uri}" in result.stderr) != readable


def test_importing_the_settings_asks_nothing_of_ecs(tmp_path):
    """The metadata endpoint is the entrypoint's business, not the settings'."""
    uri = f"http://127.0.0.1:{free_port()}/v4/container"
    env = project_env(ECS_CONTAINER_METADATA_URI_V4=uri, ALLOWED_HOSTS="example.com")
    result = django_run("print(settings.ALLOWED_HOSTS)", env)
    assert result.returncode == 0, result.stderr
    assert "ECS" not in result.stderr
