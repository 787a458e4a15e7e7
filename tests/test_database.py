import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_suite_runs_on_the_database_it_was_asked_for():
    """CI sets EXPECT_DATABASE_VENDOR, so a run that fell back to SQLite fails."""
    expected = os.environ.get("EXPECT_DATABASE_VENDOR", connection.vendor)
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


# --- the health check of a kept PostgreSQL connection (taskoverflow/postgresql) ---


@pytest.fixture
def kept_connection(postgres_database, django_db_blocker):
    """Our PostgreSQL backend, as settings.py configures it (kept connections,
    health checks), on a database of the test's own; and a second, plain
    connection to watch it from the server's side."""
    import environ
    import psycopg
    from django.db.utils import ConnectionHandler

    config = environ.Env.db_url_config(postgres_database)
    config.update(
        ENGINE="taskoverflow.postgresql", CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True
    )
    wrapper = ConnectionHandler({"default": config})["default"]
    dsn = postgres_database.replace("postgres://", "postgresql://", 1)
    with (
        django_db_blocker.unblock(),
        psycopg.connect(dsn, autocommit=True, connect_timeout=5) as watcher,
    ):
        yield wrapper, watcher
        wrapper.close()


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _last_statement(watcher, pid: int) -> str:
    """What the server last ran for backend `pid` (pg_stat_activity.query)."""
    return watcher.execute(
        "SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()[0]


def _as_the_next_request_starts(wrapper) -> None:
    """What Django does for a kept connection: forget the last check (at a
    request's start), then check it before its first statement."""
    wrapper.close_if_unusable_or_obsolete()
    wrapper.close_if_health_check_failed()


def test_a_quiet_kept_connection_passes_its_health_check_without_a_statement(
    kept_connection,
):
    wrapper, watcher = kept_connection
    pid = _backend_pid(wrapper)

    _as_the_next_request_starts(wrapper)

    # Django's own check would have sent `SELECT 1`; the server saw nothing.
    assert _last_statement(watcher, pid) == "SELECT pg_backend_pid()"
    assert wrapper.connection is not None
    assert _backend_pid(wrapper) == pid  # the same connection, kept


def test_a_connection_the_server_ended_fails_its_check_and_the_next_statement_reconnects(  # noqa: E501
    kept_connection,
):
    import select

    wrapper, watcher = kept_connection
    pid = _backend_pid(wrapper)
    watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's goodbye (an error message, then the end of the stream).
    poller = select.poll()
    poller.register(wrapper.connection.fileno(), select.POLLIN)
    assert poller.poll(5000), "the server did not end the connection"

    _as_the_next_request_starts(wrapper)

    assert wrapper.connection is None  # closed by the failed check
    assert _backend_pid(wrapper) != pid  # a new connection, no error


@pytest.mark.parametrize("state", ["an error since the last check", "a transaction"])
def test_a_connection_with_an_error_or_an_open_transaction_gets_the_full_check(
    kept_connection, state
):
    wrapper, watcher = kept_connection
    pid = _backend_pid(wrapper)
    if state == "a transaction":
        wrapper.connection.autocommit = False
        wrapper.connection.execute("SELECT 'in a transaction'")
    else:
        wrapper.errors_occurred = True

    assert wrapper.is_usable()

    assert _last_statement(watcher, pid) == "SELECT 1"


# --- prepared statements (settings.py: DATABASE_PREPARED_STATEMENTS) ------------------


@pytest.mark.django_db(transaction=True)
def test_a_statement_run_again_and_again_is_prepared_on_postgresql():
    """The server plans a poll's statement once per connection, not per poll."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's (psycopg's)")
    connection.close()  # a new connection: earlier tests' statements are not on it
    from uuid import uuid4

    from calendars.selectors import calendar_export_status

    def prepared_polls() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['SELECT "calendars_calendarexport"."status"%'],
            )
            return cursor.fetchone()[0]

    assert prepared_polls() == 0
    for _ in range(6):  # psycopg prepares a statement at its fifth run
        assert calendar_export_status(export_id=uuid4(), owner=None) is None

    assert prepared_polls() == 1
