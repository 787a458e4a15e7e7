"""Settings come from the environment; production refuses unsafe defaults."""

import ast
import re
import secrets

import pytest

from taskoverflow.settings import DEVELOPMENT_SECRET_KEY
from tests.support.processes import django_run, project_env, run_python

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
    assert lines[0] == "taskoverflow.postgresql db.example todos 2"
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


# --- Production over HTTPS: `check --deploy` -----------------------------------
def aws_task_environment() -> dict[str, str]:
    """The environment the ECS services get (terraform/), with stand-ins for
    what AWS fills in, and the two values from Secrets Manager."""
    from tests.support.deployment import render, terraform

    values = {
        'join(",", concat([aws_lb.web.dns_name], var.allowed_hosts))': (
            "taskoverflow-web-1.us-east-1.elb.amazonaws.com"
        ),
        "aws_db_instance.main.username": "taskoverflow",
        "aws_db_instance.main.address": "db.internal",
        "aws_db_instance.main.port": "5432",
        "aws_db_instance.main.db_name": "taskoverflow",
        "aws_sqs_queue.ical.name": "ical",
        "aws_sqs_queue.ical.url": "https://sqs.us-east-1.amazonaws.com/1/ical",
        "var.region": "us-east-1",
        "aws_s3_bucket.calendars.bucket": "taskoverflow-calendars-1",
        "tostring(var.ical_time_limit)": "100",
        "tostring(var.web_concurrency)": "2",
    }
    tf = terraform()
    environment = {
        name: render(value, values)
        for local in ("app_environment", "web_environment")
        for name, value in tf["locals"][local].items()
    }
    return {
        **environment,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_PASSWORD": "from-secrets-manager",
    }


def check_deploy(env: dict[str, str]):
    return run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        project_env(**env),
    )


def test_check_deploy_is_clean_with_the_aws_services_environment():
    result = check_deploy(aws_task_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_with_only_debug_off_a_key_and_hosts():
    """The safe defaults: nothing else needs setting for HTTPS."""
    result = check_deploy({**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(48)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_plain_http_as_compose_serves_it_is_what_check_deploy_warns_about():
    from tests.support.deployment import compose_environment

    env = compose_environment("app", {})
    env.update(DATABASE_URL="sqlite:///unused.sqlite3", CELERY_BROKER_URL="memory://")

    result = check_deploy(env)

    assert result.returncode != 0
    warned = set(re.findall(r"\(security\.(W\d+)\)", result.stderr + result.stdout))
    # HSTS, HTTPS redirect, session and CSRF cookies: the four compose turns off.
    assert warned == {"W004", "W008", "W012", "W016"}


def test_https_settings_follow_the_environment():
    code = (
        "print(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, "
        "settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS, "
        "settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD, "
        "getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    development = django_run(code, project_env())
    production = django_run(code, project_env(**PRODUCTION))
    behind_proxy = django_run(
        code,
        project_env(
            **PRODUCTION, TRUST_X_FORWARDED_PROTO="true", SECURE_HSTS_SECONDS="60"
        ),
    )
    for result in (development, production, behind_proxy):
        assert result.returncode == 0, result.stderr
    assert development.stdout.split() == ["False"] * 3 + ["0", "False", "False", "None"]
    assert production.stdout.split() == ["True"] * 3 + ["31536000", "True", "False"] + [
        "None"
    ]
    assert behind_proxy.stdout.strip().endswith(
        "60 True False ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_behind_the_proxy_http_is_redirected_but_not_the_health_check(sqlite_env):
    code = (
        "from django.test import Client\n"
        "client = Client(HTTP_HOST='example.com')\n"
        "print(client.get('/api/v1/todos').status_code)\n"
        "print(client.get('/api/v1/todos', headers={'x-forwarded-proto': 'https'})"
        ".status_code)\n"
        "print(client.get('/api/v1/health').status_code)\n"
        "print(client.get('/api/v1/health/').status_code)\n"
    )
    env = {**sqlite_env, **PRODUCTION, "TRUST_X_FORWARDED_PROTO": "true"}
    result = django_run(code, env)
    assert result.returncode == 0, result.stderr
    # Over HTTPS the API answers: 401, since production requires accounts.
    assert result.stdout.split() == ["301", "401", "200", "200"]


def test_accounts_are_open_in_development_and_required_in_production():
    code = "print(settings.ACCOUNTS, settings.ACCOUNTS_SIGNUP)"
    assert django_run(code, project_env()).stdout.split() == ["open", "False"]
    production = django_run(code, project_env(**PRODUCTION))
    assert production.stdout.split() == ["required", "False"]
    chosen = django_run(code, project_env(**PRODUCTION, ACCOUNTS="open"))
    assert chosen.stdout.split() == ["open", "False"]
    wrong = django_run(code, project_env(ACCOUNTS="maybe"))
    assert "ACCOUNTS must be open or required" in wrong.stderr


# --- AWS: storage, queue, database password, ECS addresses -----------------------
def test_calendar_bucket_selects_a_private_s3_storage_else_the_filesystem():
    code = "print(settings.STORAGES['default'])"
    s3 = django_run(code, project_env(CALENDAR_BUCKET="cal", AWS_REGION="eu-west-1"))
    files = django_run(code, project_env())
    assert s3.returncode == files.returncode == 0, s3.stderr + files.stderr
    assert ast.literal_eval(s3.stdout) == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "cal",
            "region_name": "eu-west-1",
            "file_overwrite": True,
            "default_acl": None,
            "signature_version": "s3v4",
        },
    }
    assert ast.literal_eval(files.stdout) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }


def test_sqs_queue_url_names_the_queue_so_celery_neither_lists_nor_creates_one():
    code = "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('predefined_queues'))"
    url = "https://sqs.us-east-1.amazonaws.com/1/ical"
    named = django_run(code, project_env(CELERY_BROKER_URL="sqs://", SQS_QUEUE_URL=url))
    unnamed = django_run(code, project_env(CELERY_BROKER_URL="sqs://"))
    assert ast.literal_eval(named.stdout) == {"ical": {"url": url}}, named.stderr
    assert unnamed.stdout.strip() == "None", unnamed.stderr


def test_production_on_sqs_refuses_to_let_celery_make_queues_in_aws():
    """With DEBUG off, sqs:// needs SQS_QUEUE_URL (terraform's queue); only a
    local SQS API (AWS_ENDPOINT_URL) may do without."""
    production = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "example.com",
        "CELERY_BROKER_URL": "sqs://",
    }
    refused = django_run("", project_env(**production))
    local = django_run(
        "", project_env(**production, AWS_ENDPOINT_URL="http://127.0.0.1:5000")
    )
    assert refused.returncode != 0
    assert "SQS_QUEUE_URL must name the job queue" in refused.stderr
    assert local.returncode == 0, local.stderr


def test_database_password_and_tls_come_apart_from_the_url():
    env = project_env(
        DATABASE_URL="postgres://app@db.example:5432/todos?sslmode=require",
        DATABASE_PASSWORD="p@ss/word:with#url%chars",
    )
    result = django_run(
        "d = settings.DATABASES['default']\n"
        "print(d['USER'], d['PASSWORD'], d['OPTIONS']['sslmode'])",
        env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["app", "p@ss/word:with#url%chars", "require"]


def test_importing_the_settings_makes_no_folders(tmp_path):
    """The embedded broker's folders are made when Celery loads its settings."""
    folder = tmp_path / "broker"
    env = project_env(CELERY_BROKER_FOLDER=str(folder))

    settings_only = django_run("print(settings.CELERY_BROKER_URL)", env)
    assert settings_only.returncode == 0, settings_only.stderr
    assert not folder.exists()

    celery = django_run(
        "from taskoverflow.celery import app\nprint(app.conf.broker_url)", env
    )
    assert celery.returncode == 0, celery.stderr
    assert {path.name for path in folder.iterdir()} == {"queue", "control"}


def test_the_configuration_table_lists_every_variable_the_code_reads():
    from tests.support.deployment import (
        BOTO3_READS,
        STDLIB_READS,
        documented_variables,
        variables_read_by_the_code,
    )

    read, documented = variables_read_by_the_code(), documented_variables()
    assert read - documented == set(), "read, but not in docs/configuration.md"
    assert documented - read - BOTO3_READS - STDLIB_READS == set(), (
        "documented, but never read"
    )


@pytest.mark.parametrize("name", ["ICAL_RATE_LIMIT", "TODO_WRITE_RATE_LIMIT"])
def test_a_rate_that_is_not_a_rate_stops_start_up_naming_it(name):
    result = run_python(["manage.py", "check"], project_env(**{name: "lots"}))
    assert result.returncode != 0
    assert f"{name} must be a rate such as 30/min" in result.stderr


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/0", "sqs://"])
@pytest.mark.parametrize("time_limit", [10, 300, 3600])
def test_a_message_stays_hidden_longer_than_its_job_may_run(broker, time_limit):
    """The broker redelivers an unacknowledged message after its visibility
    timeout: below the hard time limit, a slow job would run twice at once."""
    env = project_env(CELERY_BROKER_URL=broker, ICAL_TIME_LIMIT=str(time_limit))
    result = django_run(
        "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'],"
        " settings.CELERY_TASK_TIME_LIMIT, settings.CELERY_TASK_SOFT_TIME_LIMIT)",
        env,
    )
    assert result.returncode == 0, result.stderr
    visibility, hard, soft = map(int, result.stdout.split())
    assert visibility > hard == time_limit > soft > 0


def test_the_worker_holds_one_job_at_a_time_and_acknowledges_it_once_done():
    """As Celery reads them: prefetch 1 (a busy worker holds no other job that
    an idle one could run), late acknowledgement, and a job whose pool child
    died is rejected back to the broker (the real kill: test_faults.py)."""
    result = django_run(
        "from taskoverflow.celery import app\n"
        "print(app.conf.worker_prefetch_multiplier, app.conf.task_acks_late,"
        " app.conf.task_reject_on_worker_lost)",
        project_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True", "True"]


@pytest.mark.parametrize(
    "switch, options",
    [
        ({}, "True 5"),
        ({"DATABASE_PREPARED_STATEMENTS": "false"}, "None None"),
    ],
)
def test_postgresql_prepares_statements_unless_told_not_to(switch, options):
    env = project_env(DATABASE_URL="postgres://user:pw@db.example:5432/todos", **switch)
    result = django_run(
        "o = settings.DATABASES['default']['OPTIONS']\n"
        "print(o.get('server_side_binding'), o.get('prepare_threshold'))\n",
        env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == options.split()
