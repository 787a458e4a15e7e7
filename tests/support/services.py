"""The services tests need beside the project: PostgreSQL, Redis and moto's SQS.

A test that needs one calls `require`: it skips, saying why, when the service
is missing, and fails instead when REQUIRED_SERVICES names it (as CI does).
"""

import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from tests.support.processes import BIN, free_port, log_file, stop, wait_until

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def required_services() -> set[str]:
    """The services REQUIRED_SERVICES (a comma list) names, as it is now."""
    return set(filter(None, os.environ.get("REQUIRED_SERVICES", "").split(",")))


def require(service: str, reachable: bool, where: str) -> None:
    """Skip a test whose service (or tool) is missing, saying why; fail if it is
    required. The only way a test of this project skips."""
    import pytest

    if reachable:
        return
    message = f"{service} is not reachable at {where}"
    if service in required_services():
        pytest.fail(f"{message}, and REQUIRED_SERVICES lists it")
    pytest.skip(f"{message}; start it to run this test")


def tool_on_path(name: str) -> bool:
    return shutil.which(name) is not None


def redis_reachable(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError:
        return False


def postgres_reachable(url: str = POSTGRES_URL) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


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


@contextmanager
def moto_sqs(log_dir: Path) -> Iterator[dict[str, str]]:
    """moto's server mode on a free port; yields the AWS environment to reach it."""
    port = free_port()
    log = log_file(log_dir, "moto")
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


@contextmanager
def redis_server(log_dir: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    """A Redis of the test's own on a free port, to pause, stop and start again."""
    port = free_port()
    log = log_file(log_dir, f"redis-{port}")
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def answering() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_until(answering, timeout=20, what="redis-server", process=process)
        yield process, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
        stop(process)
        log.close()
