"""The Dockerfile and docker-compose.yml, read as files (there is no Docker
engine here), and the commands they run, run here: the static-file step, the
entrypoint, the health check, and the imports of the web and worker commands.
The whole Compose stack runs in test_deploy_stacks.py."""

import fnmatch
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.deployment import (
    BOTO3_READS,
    WEB_COMMAND,
    WORKER_COMMAND,
    compose,
    compose_environment,
    doc_page,
    dockerfile,
    env_file_block,
    env_instructions,
    exec_form,
    variables_read_by_the_code,
)
from tests.support.entrypoint import as_in_the_image, web_container
from tests.support.processes import PROJECT_DIR, free_port, project_env, run_python


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile()


def only(instructions, keyword: str) -> str:
    found = [arguments for key, arguments in instructions if key == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


# --- Dockerfile ------------------------------------------------------------------
def test_the_image_is_python_slim_and_runs_as_a_user_of_its_own(instructions):
    assert instructions[0][0] == "FROM"
    assert instructions[0][1].startswith("python:3.11-slim")
    user = only(instructions, "USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    creates = [a for k, a in instructions if k == "RUN" and "useradd" in a]
    assert creates and creates[0].rstrip().split(" && ")[0].endswith(f" {user}")
    # Nothing runs as root after the switch but the container's command.
    after = [k for k, _ in instructions[instructions.index(("USER", user)) :]]
    assert "RUN" not in after


def test_the_image_installs_requirements_and_serves_gunicorn_on_6400(instructions):
    assert ("RUN", "pip install -r requirements.txt") in instructions
    assert only(instructions, "EXPOSE") == "6400"
    env = env_instructions(instructions)
    assert env["WEB_BIND"] == "0.0.0.0:6400"
    assert "WEB_CONCURRENCY" not in env  # the environment's (gunicorn_conf: 2)
    assert exec_form(only(instructions, "CMD")) == WEB_COMMAND
    procfile = (PROJECT_DIR / "Procfile").read_text()
    assert f"web: .venv/bin/{' '.join(WEB_COMMAND)}" in procfile
    assert f"worker: .venv/bin/{' '.join(WORKER_COMMAND)}" in procfile


def test_the_entrypoint_is_the_projects_executable_script(instructions):
    entrypoint = exec_form(only(instructions, "ENTRYPOINT"))
    assert entrypoint == ["/app/taskoverflow/entrypoint.sh"]
    assert only(instructions, "WORKDIR") == "/app"
    script = PROJECT_DIR / "taskoverflow" / "entrypoint.sh"
    assert script.stat().st_mode & 0o111, "entrypoint.sh must be executable"
    assert script.read_text().startswith("#!/bin/sh\n")
    assert 'exec "$@"' in script.read_text()


def test_the_health_check_asks_the_health_endpoint(instructions, server):
    healthcheck = only(instructions, "HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(command)
    port = server.rsplit(":", 1)[1]
    env = as_in_the_image(
        project_env(WEB_BIND=f"0.0.0.0:{port}", ALLOWED_HOSTS="localhost")
    )

    healthy = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert healthy.returncode == 0, healthy.stderr

    env["WEB_BIND"] = f"0.0.0.0:{free_port()}"
    down = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1
    assert "unhealthy" in down.stderr


def test_the_health_check_names_an_allowed_host(tmp_path, sqlite_env):
    """Production refuses unknown hosts, 127.0.0.1 included unless listed: the
    check sends the first allowed one."""
    env = {
        **sqlite_env,
        "DEBUG": "false",
        "SECRET_KEY": "s" * 60,
        "ALLOWED_HOSTS": ".service.example,other.example",
        "SECURE_SSL_REDIRECT": "false",
        "WEB_BIND": f"127.0.0.1:{free_port()}",
    }
    allowed = {"Host": "api.service.example"}
    with web_container(WEB_COMMAND, env, tmp_path / "logs", headers=allowed) as base:
        refused = requests.get(f"{base}/api/v1/health", timeout=5)
        assert refused.status_code == 400  # Host: 127.0.0.1:PORT

        result = run_python(["-m", "taskoverflow.healthcheck"], as_in_the_image(env))

        assert result.returncode == 0, result.stderr


def test_the_worker_health_check_wants_a_recent_sign_of_life(tmp_path):
    """`healthcheck worker`: unhealthy before the worker's loop has touched its
    file in TMPDIR, healthy after, unhealthy once the touches stop."""
    env = project_env(TMPDIR=str(tmp_path))
    command = ["-m", "taskoverflow.healthcheck", "worker"]
    alive = tmp_path / "taskoverflow-worker-alive"

    never = run_python(command, env)
    alive.touch()
    fresh = run_python(command, env)
    os.utime(alive, (time.time() - 600, time.time() - 600))
    stale = run_python(command, env)

    assert never.returncode == 1 and "has not started" in never.stderr
    assert fresh.returncode == 0, fresh.stderr
    assert stale.returncode == 1 and "silent for" in stale.stderr


def test_static_files_are_collected_at_build_with_the_dockerfiles_command(
    image_static_root,
):
    """The Dockerfile's step that collects static files works (the fixture runs
    it), and WhiteNoise's manifest is what the production settings serve."""
    manifest = image_static_root / "staticfiles.json"
    assert manifest.is_file()
    assert "app.css" in manifest.read_text()
    assert list(image_static_root.glob("app.*.css")), "hashed names"
    assert (image_static_root / "admin" / "css" / "base.css").is_file()


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    patterns = [
        line.strip()
        for line in (PROJECT_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, pattern)
            or fnmatch.fnmatch(path, pattern.removeprefix("**/"))
            or path.startswith(pattern + "/")
            for pattern in patterns
        )

    for path in (".env", "sqs.env", ".venv", ".git", "db.sqlite3", "media", "var"):
        assert ignored(path), path
    # No tests, harness or benches in the image: every tests/ folder is left out.
    tests = [path.relative_to(PROJECT_DIR) for path in PROJECT_DIR.glob("**/tests")]
    tests = [path for path in tests if ".venv" not in path.parts]
    assert len(tests) >= 4, tests
    for path in [*map(str, tests), "conftest.py", "bench", "docs", ".ci"]:
        assert ignored(path), path
    for path in (
        "manage.py",
        "requirements.txt",
        "taskoverflow/entrypoint.sh",
        "taskoverflow/settings.py",
        "templates/index.html",
        "static/app.css",
        ".env.example",
    ):
        assert not ignored(path), path


# --- docker-compose.yml --------------------------------------------------------------
@pytest.fixture(scope="module")
def services() -> dict:
    return compose()["services"]


def test_compose_runs_database_redis_app_and_worker(services):
    assert set(services) == {"database", "redis", "migrate", "app", "worker"}
    database = services["database"]
    assert database["image"].startswith("postgres:")
    assert "pg_isready" in database["healthcheck"]["test"]
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]

    volumes = compose()["volumes"]
    data = [v for v in database["volumes"] if v.endswith(":/var/lib/postgresql/data")]
    assert len(data) == 1 and data[0].split(":")[0] in volumes


def test_app_is_built_here_and_published_on_6400_once_its_services_are_healthy(
    services,
):
    app = services["app"]
    assert app["build"] == "."
    assert app["ports"] == ["6400:6400"]
    assert app["command"] == WEB_COMMAND
    healthy = {"condition": "service_healthy"}
    migrated = {"condition": "service_completed_successfully"}
    assert app["depends_on"] == {
        "database": healthy,
        "redis": healthy,
        "migrate": migrated,
    }
    assert app["environment"]["WEB_BIND"] == "0.0.0.0:6400"


def test_the_worker_and_migrate_run_the_image_that_app_builds_once(services):
    app, worker, migrate = services["app"], services["worker"], services["migrate"]
    for other in (worker, migrate):
        assert "build" not in other and other["image"] == app["image"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert worker["command"] == WORKER_COMMAND
    assert worker["depends_on"] == app["depends_on"]
    assert worker["healthcheck"]["test"][-2:] == ["taskoverflow.healthcheck", "worker"]
    assert "ports" not in worker
    grace = worker["stop_grace_period"]
    assert grace.endswith("s")
    time_limit = int(compose_environment("worker", {})["ICAL_TIME_LIMIT"])
    assert int(grace[:-1]) > time_limit, "a stopped worker finishes its job first"


def test_web_and_worker_share_the_calendars_volume_at_media_root(services):
    for name in ("app", "worker"):
        media_root = compose_environment(name, {})["MEDIA_ROOT"]
        mounts = [v for v in services[name]["volumes"] if v.endswith(f":{media_root}")]
        assert mounts == [f"media:{media_root}"], name
    assert "media" in compose()["volumes"]


def test_compose_gives_only_variables_the_code_reads(services):
    read = variables_read_by_the_code() | BOTO3_READS
    for name in ("app", "worker"):
        given = set(services[name]["environment"])
        assert given <= read, given - read
    worker = compose_environment("worker", {})
    app = compose_environment("app", {})
    assert {
        k: v for k, v in app.items() if k not in ("WEB_BIND", "WEB_CONCURRENCY")
    } == (worker)


def test_compose_points_the_services_at_its_database_and_redis(services):
    env = compose_environment("app", {})
    database = services["database"]["environment"]
    assert env["DATABASE_URL"] == (
        f"postgres://{database['POSTGRES_USER']}:{database['POSTGRES_PASSWORD']}"
        f"@database:5432/{database['POSTGRES_DB']}"
    )
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert env["CELERY_RESULT_BACKEND"] == "django-db"
    assert env["DEBUG"] == "false"


def test_the_sqs_variant_takes_its_broker_and_credentials_from_an_ignored_env_file():
    deploy = doc_page("deployment")
    assert "docker compose --env-file sqs.env up --build" in deploy
    block = deploy.split("`sqs.env`", 1)[1].split("```", 2)[1]
    variables = env_file_block(block)
    assert variables["CELERY_BROKER_URL"] == "sqs://"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(variables)

    env = compose_environment("worker", variables)
    assert env["CELERY_BROKER_URL"] == "sqs://"
    assert env["AWS_ACCESS_KEY_ID"] == variables["AWS_ACCESS_KEY_ID"]
    assert env["CELERY_RESULT_BACKEND"] == "django-db"  # results in PostgreSQL

    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", "sqs.env"], cwd=PROJECT_DIR, timeout=30
    )
    assert ignored.returncode == 0, ".gitignore must list sqs.env"
    tracked = subprocess.run(
        ["git", "ls-files", "*.env"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert tracked.stdout == ""


@pytest.mark.parametrize("service", ["app", "worker"])
def test_the_compose_commands_resolve_with_the_compose_environment(service, services):
    """The WSGI module and the Celery app import with exactly the environment
    compose gives (nothing connects at import)."""
    env = as_in_the_image(project_env(**compose_environment(service, {})))
    code = (
        "import taskoverflow.wsgi\n"
        "from django.conf import settings\n"
        "from taskoverflow.celery import app\n"
        "print(app.main, app.conf.broker_url, settings.DEBUG, settings.MEDIA_ROOT)\n"
        "print(settings.STORAGES['default']['BACKEND'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "taskoverflow redis://redis:6379/0 False /app/media"
    assert second == "django.core.files.storage.FileSystemStorage"
    # The command's program is the one the image installs from requirements.txt.
    program = services[service]["command"][0]
    assert (Path(sys.executable).parent / program).is_file()
    requirements = (PROJECT_DIR / "requirements.txt").read_text()
    assert f"\n{program}" in requirements or f"\n{program}[" in requirements
