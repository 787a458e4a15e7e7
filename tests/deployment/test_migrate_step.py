"""Migrations run before any task serves or works: ECS's one-off migrate task
(terraform/ecs.tf, run by terraform/run-migrate-task.sh) applies them; a worker
task started first waits for them rather than taking jobs on an old schema."""

import psycopg
import pytest

from tests.support.deployment import TERRAFORM_DIR, terraform
from tests.support.ecs import ecs_cluster, task_container, task_role_policies

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_images")]


def test_a_worker_started_before_the_migrate_task_waits_for_it(
    tmp_path, postgres_database
):
    with ecs_cluster(tmp_path, postgres_database) as ecs:
        # Given: a first deploy's worker, on an empty database.
        worker = ecs.start("worker", ecs.environment("worker"))
        worker.wait_for_log("migrations to be applied")
        assert "ready." not in worker.logs()

        # When: the migrate task runs.
        migrated = ecs.run_to_completion("migrate")

        # Then: it applied the migrations and the throttle cache's table, and
        # exited 0; the worker then starts.
        assert migrated.returncode == 0, migrated.stdout[-3000:]
        assert "Applying todos.0001_initial... OK" in migrated.stdout
        with psycopg.connect(postgres_database, connect_timeout=5) as connection:
            cache = connection.execute("SELECT to_regclass('taskoverflow_cache')")
            assert cache.fetchone() == ("taskoverflow_cache",)
        worker.wait_for_log(" ready.")
        worker.wait_until_healthy()


def test_the_migrate_task_is_the_images_migrate_role_with_no_aws_rights():
    tf = terraform()
    migrate = task_container(tf, "migrate")
    assert migrate["command"] == ["migrate"]
    assert migrate["readonlyRootFilesystem"] is True
    assert task_role_policies(tf, "migrate") == []  # it reaches the database only
    script = (TERRAFORM_DIR / "run-migrate-task.sh").read_text()
    assert "terraform output -json migrate_task" in script
    assert "aws ecs run-task" in script and "aws ecs wait tasks-stopped" in script
    assert "migrate_task" in tf["output"]
