"""Run TaskOverflow as people do, in separate processes: for tests and bench/.

Web (gunicorn), worker (celery), a fresh database (SQLite file or PostgreSQL
database) and a local SQS API (moto's server), each started and stopped here.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Settings of ours that must not leak from the caller into a process under test.
OUR_SETTINGS = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_DEFAULT_QUEUE",
    "CELERY_BROKER_FOLDER",
    "MEDIA_ROOT",
    "ICAL_SIMULATED_DELAY",
)


def project_env(**overrides: str) -> dict[str, str]:
    """This environment, less every setting of ours, plus the overrides."""
    env = {key: value for key, value in os.environ.items() if key not in OUR_SETTINGS}
    env.update(overrides)
    return env


def run_python(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def django_run(
    code: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run Python code in a fresh process after django.setup() with `env`."""
    setup = (
        "import os, django\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'taskoverflow.settings'\n"
        "django.setup()\n"
        "from django.conf import settings\n"
    )
    return run_python(["-c", setup + code], env, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, *, timeout: float, what: str, process=None) -> None:
    """Poll `check` until it is true; fail after `timeout` s or if `process` exits."""
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout} s")
        time.sleep(0.05)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, as a container stop would; SIGKILL if it does not go in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _log_file(log_dir: Path, name: str):
    log_dir.mkdir(parents=True, exist_ok=True)
    return open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed by the caller


@contextmanager
def fresh_database(suite_database_url: str | None, folder: Path) -> Iterator[str]:
    """A new, empty database of the kind the suite runs on; dropped afterwards."""
    if not suite_database_url or suite_database_url.startswith("sqlite"):
        yield f"sqlite:///{folder / f'stack-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    import psycopg

    name = f"taskoverflow_stack_{uuid.uuid4().hex[:12]}"
    admin = urlsplit(suite_database_url)
    admin_dsn = urlunsplit(admin._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(admin._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict[str, str]) -> None:
    result = run_python(["manage.py", "migrate", "--noinput"], env, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed: {result.stderr}")


@contextmanager
def web_server(env: dict[str, str], log_dir: Path, workers: int = 2) -> Iterator[str]:
    """gunicorn with the project's config on a free port; yields its base URL."""
    port = free_port()
    log = _log_file(log_dir, "web")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:taskoverflow.gunicorn_conf"]
        + ["taskoverflow.wsgi"],
        cwd=PROJECT_DIR,
        env={**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return requests.get(f"{base}/api/v1/health", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_until(answering, timeout=30, what="gunicorn", process=process)
        yield base
    finally:
        stop(process)
        log.close()


def start_worker(
    env: dict[str, str], log_dir: Path, *, name: str = "worker", concurrency: int = 1
) -> subprocess.Popen:
    """A Celery worker, as the README starts it, once it says it is ready."""
    log_path = log_dir / f"{name}.log"
    log = _log_file(log_dir, name)
    process = subprocess.Popen(
        [str(BIN / "celery"), "-A", "taskoverflow", "worker", "-l", "INFO"]
        + [f"--concurrency={concurrency}", f"--hostname={name}@%h"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_until(
            lambda: b" ready." in log_path.read_bytes(),
            timeout=60,
            what=f"celery worker {name} (log: {log_path})",
            process=process,
        )
    except Exception:
        stop(process)
        raise
    return process


@contextmanager
def worker(env: dict[str, str], log_dir: Path, **kwargs) -> Iterator[subprocess.Popen]:
    process = start_worker(env, log_dir, **kwargs)
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def moto_sqs(log_dir: Path) -> Iterator[dict[str, str]]:
    """moto's server mode on a free port; yields the AWS environment to reach it."""
    port = free_port()
    log = _log_file(log_dir, "moto")
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            return True
        except requests.RequestException:
            return False

    try:
        wait_until(answering, timeout=30, what="moto_server", process=process)
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        stop(process)
        log.close()


@contextmanager
def private_redis_queue(redis_url: str, prefix: str) -> Iterator[dict[str, str]]:
    """A Redis broker queue of the caller's own, its keys deleted afterwards.

    No one else's worker takes these jobs, and no one else's jobs are taken.
    Yields the environment that selects it.
    """
    import redis

    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        yield {"CELERY_BROKER_URL": f"{redis_url}/0", "CELERY_DEFAULT_QUEUE": queue}
    finally:
        client = redis.Redis.from_url(f"{redis_url}/0", socket_timeout=5)
        client.delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )
        client.close()


def wait_for_job(base: str, task_url: str, *, timeout: float) -> tuple[str, float]:
    """Poll a job's status until it finishes; its final status and the time taken."""
    started = time.monotonic()
    while True:
        status = requests.get(task_url, timeout=5).json()["task_status"]
        elapsed = time.monotonic() - started
        if status in ("SUCCESS", "FAILURE") or elapsed > timeout:
            return status, elapsed
        time.sleep(0.01)
