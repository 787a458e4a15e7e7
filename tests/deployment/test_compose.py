"""docker-compose.yml, run by Docker Compose: `docker compose up --wait` brings
every service to healthy; the deployment page's walk-through works against it;
`docker compose stop worker` lets a running job finish. On Redis (the default)
and on SQS (moto's API, as the deployment page's sqs.env variant).

The override changes networking only (tests/support/compose.py)."""

import time

import pytest

from tests.support.compose import compose_env, compose_stack, forwarded_port, moto_in
from tests.support.deployment import doc_page, env_file_block
from tests.support.docker import docker
from tests.support.walkthrough import (
    first_user_token,
    job_finishes_through_a_stop,
    walk_through,
)

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_images")]
# Long enough to stop the worker mid-job, well within its stop grace period.
SLOW_JOB_SECONDS = 4
LONG_RUNNING = ("database", "redis", "app", "worker")


def sqs_env_file(endpoint: str) -> dict[str, str]:
    """The deployment page's sqs.env, pointed at moto instead of AWS: its
    credentials are moto's, and Celery makes the queue there."""
    block = doc_page("deployment").split("`sqs.env`", 1)[1].split("```", 2)[1]
    variables = env_file_block(block)
    assert variables["CELERY_BROKER_URL"] == "sqs://"
    variables.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="",
        SQS_QUEUE_URL="",
        AWS_ENDPOINT_URL=endpoint,
    )
    return variables


@pytest.mark.parametrize("broker", ["redis", "sqs"])
def test_compose_serves_the_walk_through_and_a_stopped_worker_finishes_its_job(
    broker, tmp_path, record_property
):
    env = compose_env(ICAL_SIMULATED_DELAY=str(SLOW_JOB_SECONDS))
    started = time.monotonic()
    with compose_stack(tmp_path, env) as stack:
        # Given: the stack up and healthy (SQS: moto in its network namespace,
        # before the services that use it).
        if broker == "sqs":
            stack.up("database")
            endpoint = stack.enter(moto_in(stack.namespace_pid(), stack.logs))
            stack.env = {**env, **sqs_env_file(endpoint)}
        stack.up()
        record_property("compose up seconds", round(time.monotonic() - started, 1))
        assert {name: stack.health(name) for name in LONG_RUNNING} == dict.fromkeys(
            LONG_RUNNING, "healthy"
        )
        assert "Exited (0)" in stack.run("ps", "-a", "migrate").stdout

        with forwarded_port(stack.namespace_pid(), 6400) as port:
            base = f"http://127.0.0.1:{port}"
            # When / then: the walk-through, with its slow job taking the usual
            # path, and a job that the worker is running when it is stopped.
            # The first user and their token, made in the app's container as
            # the deployment page does (docker compose exec app ...).
            app = stack.container("app")
            token = first_user_token(
                lambda command: docker("exec", app, *command).stdout
            )
            signed_in = {"Authorization": f"Bearer {token}"}
            walk_through(base, token=token)

            def stop_worker() -> None:
                result = stack.run("stop", "worker", timeout=400)
                assert result.returncode == 0, result.stderr

            took = job_finishes_through_a_stop(base, stop_worker, headers=signed_in)
        assert took < SLOW_JOB_SECONDS + 30
        assert "Warm shutdown" in stack.run("logs", "worker").stdout
