import subprocess

import pytest

from tests.support.services import require


@pytest.fixture(scope="session")
def docker_images():
    """A Docker engine with the stand-in images and the project's image built
    (tests/support/docker.py), and Compose: made here if missing; a machine
    that cannot make them skips, or fails when REQUIRED_SERVICES names docker."""
    from tests.support.compose import ensure_compose, stand_in_tags
    from tests.support.docker import ensure_images

    try:
        ensure_images(stand_in_tags())
        ensure_compose()
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or error
        require("docker", False, f"this machine: {detail}")
