"""The image's commands run here, through its entrypoint, as a container runs them."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.processes import (
    BIN,
    PROJECT_DIR,
    log_file,
    stop,
    wait_for_worker,
    wait_until,
)

ENTRYPOINT = PROJECT_DIR / "taskoverflow" / "entrypoint.sh"


def as_in_the_image(env: dict[str, str]) -> dict[str, str]:
    """`env` with this virtualenv's programs first on PATH, as the image has its
    own Python's: the commands of the Dockerfile, compose file and task
    definitions then run here unchanged."""
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}"}


def start_through_entrypoint(
    command: list[str], env: dict[str, str], log_dir: Path, *, name: str
) -> subprocess.Popen:
    """A container's command, through the image's entrypoint, in the project."""
    log = log_file(log_dir, name)
    process = subprocess.Popen(
        [str(ENTRYPOINT), *command],
        cwd=PROJECT_DIR,
        env=as_in_the_image(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


@contextmanager
def web_container(
    command: list[str], env: dict[str, str], log_dir: Path, *, headers=None
) -> Iterator[str]:
    """The web command through the entrypoint; yields its base URL once
    /api/v1/health answers 200 (on the port of env's WEB_BIND)."""
    process = start_through_entrypoint(command, env, log_dir, name="web")
    base = f"http://127.0.0.1:{env['WEB_BIND'].rsplit(':', 1)[1]}"

    def answering() -> bool:
        try:
            return requests.get(f"{base}/api/v1/health", timeout=1, headers=headers).ok
        except requests.RequestException:
            return False

    try:
        wait_until(
            answering,
            timeout=90,
            what=f"web (log: {log_dir / 'web.log'})",
            process=process,
        )
        yield base
    finally:
        stop(process)


@contextmanager
def worker_container(
    command: list[str], env: dict[str, str], log_dir: Path
) -> Iterator[subprocess.Popen]:
    """The worker command through the entrypoint, once Celery says it is ready."""
    process = start_through_entrypoint(command, env, log_dir, name="worker")
    log_path = log_dir / "worker.log"
    try:
        wait_for_worker(process, log_path, timeout=90)
        yield process
    finally:
        stop(process)
