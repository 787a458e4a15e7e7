"""The deployments' web and worker commands, run here as their containers would
run them: through the image's entrypoint, with the environment that
docker-compose.yml or the ECS task definitions (terraform/) give, against the
machine's PostgreSQL and Redis and moto's SQS and S3. Then the deployment page's
walk-through over HTTP: create a todo, ask for a calendar, follow the job, get it.

Only what must differ here is changed, each named below: the hosts of the
database and Redis (service names in Compose), the port, the folder of the
calendars volume, and the database's TLS (the test server has none).
"""

import hashlib
import secrets
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.deployment import (
    compose,
    compose_environment,
    doc_page,
    ecs_metadata,
    env_file_block,
    image_environment,
    render,
    terraform,
)
from tests.support.entrypoint import web_container, worker_container
from tests.support.processes import (
    PROJECT_DIR,
    free_port,
    project_env,
    run_python,
)
from tests.support.services import (
    REDIS_URL,
    redis_reachable,
    require,
)
from tests.support.walkthrough import aws_client as client
from tests.support.walkthrough import first_user_token, walk_through


def host_token(env: dict[str, str]) -> str:
    """The first user's token, made by this machine's manage.py with `env`."""

    def run(command: list[str]) -> str:
        assert command[0] == "python"
        result = run_python(command[1:], env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return first_user_token(run)


# --- docker-compose.yml -----------------------------------------------------------
@pytest.mark.parametrize("broker", ["redis", "sqs"])
def test_the_compose_stack_serves_the_readme_walk_through(
    broker, tmp_path, postgres_database, image_static_root, request
):
    # Given: compose's environment, with the shell's (or env file's) variables.
    # A queue of this test's own, on the machine's shared Redis.
    variables = {"CELERY_DEFAULT_QUEUE": f"ical-compose-{uuid.uuid4().hex[:8]}"}
    extra = {}
    if broker == "redis":
        require("redis", redis_reachable(), REDIS_URL)
    else:
        aws_env = request.getfixturevalue("aws")
        # The deployment page's sqs.env, with moto's credentials for its placeholders.
        block = doc_page("deployment").split("`sqs.env`", 1)[1].split("```", 2)[1]
        variables.update(env_file_block(block))
        variables.update(
            {
                key: aws_env[key]
                for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            }
        )
        variables["AWS_SESSION_TOKEN"] = ""
        variables["SQS_QUEUE_URL"] = ""  # moto's queue, which Celery makes
        extra["AWS_ENDPOINT_URL"] = aws_env["AWS_ENDPOINT_URL"]  # moto, not AWS

    redis_host = urlsplit(REDIS_URL).netloc
    media = tmp_path / "media"  # the `media` volume both services mount
    environments = {}
    for service in ("app", "worker"):
        given = compose_environment(service, variables)
        here = {
            **given,
            "DATABASE_URL": postgres_database,
            "CELERY_BROKER_URL": given["CELERY_BROKER_URL"].replace(
                "redis:6379", redis_host
            ),
            "CACHE_URL": given["CACHE_URL"].replace("redis:6379", redis_host),
            "MEDIA_ROOT": str(media),
            **extra,
        }
        changed = {key for key in here if here[key] != given.get(key)}
        assert changed <= {
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CACHE_URL",
            "MEDIA_ROOT",
        } | set(extra)
        environments[service] = project_env(
            **{**image_environment(image_static_root), **here}
        )
    environments["app"]["WEB_BIND"] = f"127.0.0.1:{free_port()}"  # not 6400 here
    assert environments["app"]["CELERY_BROKER_URL"].startswith(
        "redis://" if broker == "redis" else "sqs://"
    )

    services = compose()["services"]
    logs = tmp_path / "logs"
    # When: the two containers' commands, through the entrypoint.
    with (
        web_container(services["app"]["command"], environments["app"], logs) as base,
        worker_container(services["worker"]["command"], environments["worker"], logs),
    ):
        # Then: the walk-through works, and the calendar is on the shared volume.
        task_id = walk_through(base, token=host_token(environments["app"]))
        stored = list((media / "calendars").iterdir())
        assert len(stored) == 1  # named by its content: <sha256>.ics
        assert (
            stored[0].name
            == f"{hashlib.sha256(stored[0].read_bytes()).hexdigest()}.ics"
        )

    # Results went to PostgreSQL (django-db) on both brokers.
    import psycopg

    with psycopg.connect(postgres_database, connect_timeout=5) as connection:
        row = connection.execute(
            "SELECT status FROM django_celery_results_taskresult WHERE task_id = %s",
            [task_id],
        ).fetchone()
    assert row == ("SUCCESS",)


# --- terraform/: the ECS services' environment ---------------------------------------
def test_the_ecs_services_environment_runs_on_sqs_and_s3_behind_https(
    tmp_path, postgres_database, aws, image_static_root
):
    tf = terraform()
    region = tf["variable"]["region"]["default"]
    time_limit = tf["variable"]["ical_time_limit"]["default"]
    # Given: what terraform makes, made on moto: the queue and the bucket.
    sqs, s3 = client("sqs", aws), client("s3", aws)
    queue_url = sqs.create_queue(
        QueueName="ical", Attributes={"VisibilityTimeout": str(time_limit + 60)}
    )["QueueUrl"]
    bucket = f"taskoverflow-calendars-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    load_balancer = "taskoverflow-web-123456789.us-east-1.elb.amazonaws.com"
    database = urlsplit(postgres_database)
    values = {
        'join(",", concat([aws_lb.web.dns_name], var.allowed_hosts))': load_balancer,
        "aws_db_instance.main.username": database.username,
        "aws_db_instance.main.address": database.hostname,
        "aws_db_instance.main.port": str(database.port),
        "aws_db_instance.main.db_name": database.path.lstrip("/"),
        "aws_sqs_queue.ical.name": "ical",
        "aws_sqs_queue.ical.url": queue_url,
        "var.region": region,
        "aws_s3_bucket.calendars.bucket": bucket,
        "tostring(var.ical_time_limit)": str(time_limit),
        "tostring(var.web_concurrency)": str(
            tf["variable"]["web_concurrency"]["default"]
        ),
    }
    shared = {
        name: render(value, values)
        for name, value in tf["locals"]["app_environment"].items()
    }
    assert shared["DATABASE_URL"].endswith("?sslmode=require")
    shared["DATABASE_URL"] = shared["DATABASE_URL"].replace(
        "sslmode=require", "sslmode=disable"
    )
    from_secrets_manager = {
        secret["name"]: secrets.token_urlsafe(48) for secret in tf["locals"]["secrets"]
    }
    assert set(from_secrets_manager) == {"SECRET_KEY", "DATABASE_PASSWORD"}

    with ecs_metadata(["127.0.0.1"]) as metadata_uri:
        # On ECS the task role gives the credentials; here moto's keys do.
        assert shared["AWS_DEFAULT_REGION"] == aws["AWS_DEFAULT_REGION"]
        credentials = {key: aws[key] for key in aws if key not in shared}
        worker_env = project_env(
            **{**image_environment(image_static_root), **shared},
            **from_secrets_manager,
            **credentials,
            ECS_CONTAINER_METADATA_URI_V4=metadata_uri,
        )
        web_env = {
            **worker_env,
            **{
                name: render(value, values)
                for name, value in tf["locals"]["web_environment"].items()
            },
        }
        assert web_env["WEB_BIND"] == "0.0.0.0:6400"
        web_env["WEB_BIND"] = f"127.0.0.1:{free_port()}"
        web = tf["locals"]["web_container"]
        worker = tf["locals"]["worker_container"]
        logs = tmp_path / "logs"

        # When: the task definitions' commands, through the entrypoint. The web
        # container is ready once the load balancer's health check passes: plain
        # HTTP, the task's own address as host (from the metadata endpoint).
        with (
            web_container(web["command"], web_env, logs) as base,
            worker_container(worker["command"], worker_env, logs),
        ):
            through_https = {"Host": load_balancer, "X-Forwarded-Proto": "https"}
            # Then: plain HTTP is redirected to HTTPS...
            plain = requests.get(
                f"{base}/api/v1/todos",
                headers={"Host": load_balancer},
                allow_redirects=False,
                timeout=10,
            )
            assert plain.status_code == 301
            assert plain.headers["Location"] == f"https://{load_balancer}/api/v1/todos"
            # ... HTTPS through the load balancer is served, with HSTS and
            # cookies for HTTPS only ...
            login = requests.get(
                f"{base}/admin/login/", headers=through_https, timeout=10
            )
            assert login.status_code == 200
            assert "max-age=31536000" in login.headers["Strict-Transport-Security"]
            assert "Secure" in login.headers["Set-Cookie"]
            # ... and the walk-through works, the calendar stored in S3.
            walk_through(
                base,
                token=host_token(web_env),
                headers=through_https,
                public=f"https://{load_balancer}",
            )

    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert len(listed) == 1  # stored by its content: calendars/<sha256>.ics
    key = listed[0]["Key"]
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert key == f"calendars/{hashlib.sha256(stored).hexdigest()}.ics"
    assert not (PROJECT_DIR / "media" / key).exists()
    # Celery used the queue by its URL: it listed and created no queue.
    assert sqs.list_queues()["QueueUrls"] == [queue_url]
