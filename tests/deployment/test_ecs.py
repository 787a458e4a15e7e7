"""terraform/ecs.tf's tasks, run on Docker as Fargate runs them, against moto
with IAM enforced and each task role's policies from terraform/iam.tf
(tests/support/ecs.py): the web task answers the load balancer's health check
under its role; the worker task, under its role, builds a job posted to the web
task into S3; SIGTERM to the worker mid-job lets the job finish."""

from functools import partial

import pytest
import requests

from tests.support.docker import docker
from tests.support.ecs import (
    LOAD_BALANCER,
    THROUGH_THE_LOAD_BALANCER,
    ecs_cluster,
    fetch_signed_url,
    health_answer,
    task_container,
    web_base,
)
from tests.support.processes import wait_until
from tests.support.walkthrough import (
    first_user_token,
    job_finishes_through_a_stop,
    walk_through,
)

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_images")]
SLOW_JOB_SECONDS = 4


@pytest.fixture
def ecs(tmp_path, postgres_database):
    with ecs_cluster(tmp_path, postgres_database) as cluster:
        if "migrate" in cluster.tf["resource"]["aws_ecs_task_definition"]:
            migrated = cluster.run_to_completion("migrate")
            assert migrated.returncode == 0, migrated.stdout[-3000:]
        yield cluster


def test_the_web_task_answers_the_load_balancers_health_check_under_its_role(ecs):
    env = ecs.environment("web")
    web = ecs.start("web", env)

    answer = health_answer(web_base(env))

    assert answer.status_code == 200, answer.text
    web.wait_until_healthy()  # the container's own healthCheck too
    # Nothing tried to write to the read-only root (gunicorn's control socket).
    assert "[ERROR]" not in web.logs()


def test_the_worker_task_starts_on_its_read_only_root_as_its_user(ecs):
    worker = ecs.start("worker", ecs.environment("worker"))

    worker.wait_for_log(" ready.")  # Celery's word for it

    worker.wait_until_healthy()


def test_a_fargate_task_volume_at_tmp_would_not_do_for_the_worker(ecs):
    """Why TMPDIR is /dev/shm: Fargate mounts a task volume as an empty
    root-owned 0755 folder, which the image's user cannot write."""
    definition = task_container(ecs.tf, "worker")
    env = ecs.environment("worker")
    assert env.pop("TMPDIR") == "/dev/shm"
    with_volume = {**definition, "mountPoints": [{"containerPath": "/tmp"}]}

    worker = ecs.start("worker", env, definition=with_volume)

    with pytest.raises(AssertionError, match="No usable temporary directory"):
        worker.wait_for_log(" ready.")


def test_a_job_posted_to_web_is_built_by_the_worker_into_s3_and_survives_sigterm(ecs):
    web_env = ecs.environment("web")
    web = ecs.start("web", web_env)
    worker_env = ecs.environment("worker", ICAL_SIMULATED_DELAY=str(SLOW_JOB_SECONDS))
    worker = ecs.start("worker", worker_env)
    base = web_base(web_env)
    assert health_answer(base).status_code == 200
    worker.wait_until_healthy()

    # The walk-through through the load balancer: the calendar lands in S3.
    # The first user and their token, made in the web task's container (on
    # AWS: `aws ecs execute-command`, as the deployment page says).
    token = first_user_token(
        lambda command: docker("exec", web.container_id, *command).stdout
    )
    walk_through(
        base,
        token=token,
        headers=THROUGH_THE_LOAD_BALANCER,
        public=f"https://{LOAD_BALANCER}",
        follow=partial(fetch_signed_url, ecs.aws, ecs.keys["web"]),
    )
    bucket = ecs.aws.values["aws_s3_bucket.calendars.bucket"]

    def stored(prefix: str) -> list[str]:
        listing = ecs.aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]

    assert len(stored("calendars/")) == 1
    # The user's calendar feed: asked for once, built by the worker task from
    # an event over SQS, into the same bucket.
    signed_in = {**THROUGH_THE_LOAD_BALANCER, "Authorization": f"Bearer {token}"}
    feed = requests.get(f"{base}/api/v1/calendar/feed", headers=signed_in, timeout=10)
    assert feed.status_code == 200, feed.text
    assert feed.json()["url"].startswith(f"https://{LOAD_BALANCER}/")
    wait_until(lambda: stored("feeds/"), timeout=30, what="the feed file in S3")

    # SIGTERM mid-job, as ECS stops a task (SIGKILL after stopTimeout).
    timeout = worker.definition["stopTimeout"]
    took = job_finishes_through_a_stop(
        base,
        lambda: ecs.stop_task(worker, timeout),
        headers=signed_in,
    )
    assert took < timeout
    assert "Warm shutdown" in worker.logs()
    # Celery used the queue by its URL: it listed and created no other.
    queues = ecs.aws.client("sqs").list_queues()["QueueUrls"]
    assert queues == [ecs.aws.values["aws_sqs_queue.ical.url"]]
