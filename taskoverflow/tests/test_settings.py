"""Settings come from the environment; production refuses unsafe defaults."""

import pytest

from taskoverflow.settings import DEVELOPMENT_SECRET_KEY
from taskoverflow.testing import django_run, project_env, run_python

PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "example.com"}


@pytest.mark.parametrize(
    "missing_or_unsafe, complaint",
    [
        ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must list"),
    ],
)
def test_production_refuses_to_start_with_unsafe_defaults(missing_or_unsafe, complaint):
    settings = {**PRODUCTION, **missing_or_unsafe}
    env = project_env(
        **{key: value for key, value in settings.items() if value is not None}
    )

    result = run_python(["manage.py", "check"], env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_starts_with_a_key_and_hosts():
    result = run_python(["manage.py", "check"], project_env(**PRODUCTION))
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_needs_no_environment_at_all():
    result = run_python(["manage.py", "check"], project_env())
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_database_url_selects_postgresql_through_psycopg_with_a_bounded_connect():
    env = project_env(DATABASE_URL="postgres://user:pw@db.example:5432/todos")
    result = django_run(
        "import psycopg\n"
        "d = settings.DATABASES['default']\n"
        "print(d['ENGINE'], d['HOST'], d['NAME'], d['OPTIONS']['connect_timeout'])\n"
        "print('psycopg', psycopg.__version__)\n",
        env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "django.db.backends.postgresql db.example todos 2"
    assert lines[1].startswith("psycopg 3.")


def test_sqlite_is_the_default_a_file_beside_manage_py():
    result = django_run("print(settings.DATABASES['default']['NAME'])", project_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("/db.sqlite3")


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(sqlite_env):
    result = django_run(
        "from django.db import connection\n"
        "options = settings.DATABASES['default']['OPTIONS']\n"
        "print(options['transaction_mode'], options['timeout'])\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('PRAGMA journal_mode')\n"
        "    print(cursor.fetchone()[0])\n",
        sqlite_env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["IMMEDIATE", "20", "wal"]


def test_empty_variables_count_as_unset_as_in_a_copied_env_example():
    env = project_env(SECRET_KEY="", ALLOWED_HOSTS="", DATABASE_URL="", STATIC_ROOT="")
    result = django_run(
        "print(bool(settings.SECRET_KEY), settings.ALLOWED_HOSTS[0], "
        "settings.DATABASES['default']['ENGINE'], settings.STATIC_ROOT)",
        env,
    )
    assert result.returncode == 0, result.stderr
    secret, host, engine, static_root = result.stdout.split()
    assert (secret, host, engine) == (
        "True",
        ".localhost",
        "django.db.backends.sqlite3",
    )
    assert static_root.endswith("/staticfiles")
