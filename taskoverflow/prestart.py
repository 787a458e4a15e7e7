"""Before a container's command: wait for the database, then migrate (the web
and migrate roles) or wait until another has migrated (the worker).

Run by taskoverflow/entrypoint.sh as
`python -m taskoverflow.prestart [--migrate | --wait-for-migrations]`.
The wait is bounded (DATABASE_WAIT_TIMEOUT seconds, default 60); when it gives up,
it says which database did not answer and why, and exits 1 so the container stops
rather than serving errors.
"""

import argparse
import os
import sys
import time

# Any number of web containers may start at once; the first to take this
# PostgreSQL advisory lock migrates, the others wait and then find nothing to do.
MIGRATION_LOCK = 6400_0001


def wait_for_database(timeout: float) -> None:
    """Return once the default database accepts a connection; SystemExit after
    `timeout` seconds."""
    from django.db import OperationalError, connection

    where = str(connection.settings_dict["NAME"])
    if connection.vendor == "postgresql":
        host = connection.settings_dict["HOST"] or "localhost"
        port = connection.settings_dict["PORT"] or 5432
        where = f"{host}:{port}/{where}"
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            connection.ensure_connection()
        except OperationalError as error:
            reason = (str(error).strip() or repr(error)).splitlines()[0]
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"prestart: gave up waiting for the database at {where} after "
                    f"{timeout:g} s ({attempt} attempts). Last error: {reason}. "
                    "Check DATABASE_URL and that the database is running."
                ) from None
            print(f"prestart: waiting for the database at {where}: {reason}")
            time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        else:
            print(f"prestart: the database at {where} answers")
            return


def migrate() -> None:
    """Apply migrations, one container at a time on PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        _migrate()
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        _migrate()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", "--noinput")
    # The throttle counts' table when CACHE_URL is the database cache (a no-op
    # for any other cache).
    call_command("createcachetable")


def unapplied_migrations() -> int:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def wait_for_migrations(timeout: float) -> None:
    """Return once every migration is applied; SystemExit after `timeout` s.

    A worker must not take jobs from a schema older than its code: on a first
    deploy the migrate task (or a web task) may still be migrating.
    """
    deadline = time.monotonic() + timeout
    while pending := unapplied_migrations():
        if time.monotonic() >= deadline:
            raise SystemExit(
                f"prestart: {pending} migrations are still unapplied after "
                f"{timeout:g} s. Run the migrate role first (docker compose: the "
                "`migrate` service; ECS: terraform/run-migrate-task.sh)."
            )
        print(f"prestart: waiting for {pending} migrations to be applied")
        time.sleep(min(2.0, max(deadline - time.monotonic(), 0)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m taskoverflow.prestart")
    roles = parser.add_mutually_exclusive_group()
    roles.add_argument(
        "--migrate", action="store_true", help="apply migrations (web, migrate)"
    )
    roles.add_argument(
        "--wait-for-migrations",
        action="store_true",
        help="wait until migrations are applied (the worker role)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskoverflow.settings")
    import django

    django.setup()
    timeout = float(os.environ.get("DATABASE_WAIT_TIMEOUT") or 60)
    wait_for_database(timeout)
    if args.migrate:
        migrate()
    elif args.wait_for_migrations:
        wait_for_migrations(timeout)


if __name__ == "__main__":
    sys.exit(main())
