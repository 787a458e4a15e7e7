"""Helpers for tests that run the project as separate processes, as people do."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

PROJECT_DIR = Path(__file__).resolve().parents[2]
OUR_SETTINGS = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
)


def project_env(**overrides: str) -> dict[str, str]:
    """This environment, less every setting of ours, plus the overrides."""
    env = {key: value for key, value in os.environ.items() if key not in OUR_SETTINGS}
    env.update(overrides)
    return env


def run_python(args: list[str], env: dict[str, str], timeout: float = 60):
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def django_run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python code in a fresh process after django.setup() with `env`."""
    setup = (
        "import os, django\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'taskoverflow.settings'\n"
        "django.setup()\n"
        "from django.conf import settings\n"
    )
    return run_python(["-c", setup + code], env)


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    """The quick start's settings on a fresh, migrated SQLite file of its own."""
    env = project_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    migrated = run_python(["manage.py", "migrate", "--noinput"], env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(sqlite_env):
    """gunicorn with the project's config, on a free port; stopped afterwards."""
    port = free_port()
    env = {**sqlite_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-c", "python:taskoverflow.gunicorn_conf", "taskoverflow.wsgi"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/api/v1/health", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"gunicorn did not start: {process.stderr.read()!r}")
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=30)
