"""The project's Dockerfile, built unchanged (only its base image is a local
stand-in), and the image run as a container."""

import json
import time

import pytest

from tests.support.docker import PROJECT_IMAGE, docker
from tests.support.processes import free_port

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_images")]


def in_image(*command: str) -> str:
    """A command's output in a throwaway container of the image, as its user."""
    return docker(
        "run", "--rm", "--entrypoint", command[0], PROJECT_IMAGE, *command[1:]
    ).stdout


def test_the_image_runs_as_a_user_of_its_own():
    config = json.loads(docker("image", "inspect", PROJECT_IMAGE).stdout)[0]["Config"]
    assert config["User"] == "app"
    assert in_image("id", "-u").strip() == "10001"


def test_the_image_holds_the_service_and_none_of_its_tests_or_build_settings():
    listing = in_image(
        "sh", "-c", "ls -A /app; find /app -name conftest.py -o -name tests"
    )
    assert "manage.py" in listing and "staticfiles" in listing
    assert "tests" not in listing.split() and "conftest.py" not in listing
    # The host's package index settings never reached a layer.
    history = docker("history", "--no-trunc", PROJECT_IMAGE).stdout
    assert "PIP_INDEX_URL" not in history and "pip.conf" not in history


def test_the_images_health_check_turns_healthy(tmp_path):
    """The image's own HEALTHCHECK command (only its interval shortened) on the
    web role, with the settings production insists on and an SQLite file."""
    port = free_port()
    container = docker(
        "run", "-d", "--network", "host", "--health-interval", "1s",
        "-e", "DEBUG=false", "-e", "SECRET_KEY=" + "image-test-key-" * 4,
        "-e", "ALLOWED_HOSTS=localhost", "-e", f"WEB_BIND=127.0.0.1:{port}",
        "-e", "DATABASE_URL=sqlite:////app/media/db.sqlite3",
        "-e", "CELERY_BROKER_URL=memory://",
        PROJECT_IMAGE,
    ).stdout.strip()  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while (status := health(container)) != "healthy":
            assert status in ("starting", "unhealthy"), status
            assert time.monotonic() < deadline, docker("logs", container).stderr
            time.sleep(0.5)
    finally:
        docker("rm", "-f", container)


def health(container: str) -> str:
    return docker("inspect", "-f", "{{.State.Health.Status}}", container).stdout.strip()
