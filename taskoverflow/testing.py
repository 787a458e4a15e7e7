"""Run TaskOverflow as people do, in separate processes: for tests and bench/.

Web (gunicorn), worker (celery), a fresh database (SQLite file or PostgreSQL
database) and a local SQS API (moto's server), each started and stopped here.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
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
    "ICAL_TIME_LIMIT",
    "DATABASE_PASSWORD",
    "DATABASE_WAIT_TIMEOUT",
    "SQS_QUEUE_URL",
    "CALENDAR_BUCKET",
    "TRUST_X_FORWARDED_PROTO",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "ECS_CONTAINER_METADATA_URI_V4",
    "WEB_BIND",
    "WEB_CONCURRENCY",
)
REQUIRED_SERVICES = set(
    filter(None, os.environ.get("REQUIRED_SERVICES", "").split(","))
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def require(service: str, reachable: bool, where: str) -> None:
    """Skip a test whose service is missing, saying why; fail if it is required."""
    import pytest

    if reachable:
        return
    message = f"{service} is not reachable at {where}"
    if service in REQUIRED_SERVICES:
        pytest.fail(f"{message}, and REQUIRED_SERVICES lists it")
    pytest.skip(f"{message}; start it to run this test")


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


def stack_env(folder: Path, database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a web server and its workers, on a migrated database."""
    env = project_env(
        DATABASE_URL=database_url,
        MEDIA_ROOT=str(folder / "media"),
        CELERY_BROKER_FOLDER=str(folder / "broker"),
    )
    env.update(overrides)
    migrate(env)
    return env


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
        # Its own process group: a test can kill the whole worker, pool included.
        start_new_session=True,
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


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a worker's pool children)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@contextmanager
def redis_server(log_dir: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    """A Redis of the test's own on a free port, to pause, stop and start again."""
    port = free_port()
    log = _log_file(log_dir, f"redis-{port}")
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


class TcpProxy:
    """A TCP forwarder to inject faults: forward, stall (accept, never answer), or
    refuse (nothing listens). It stands between a service and its database."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.stalled = False
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def refuse(self) -> None:
        """Stop listening and drop every connection: connections are refused."""
        if self._listener is not None:
            # shutdown() first: a bare close() leaves a thread blocked in accept()
            # listening on.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self._drop_connections()

    def stall(self) -> None:
        """Accept connections but pass nothing on: the peer never answers."""
        self.stalled = True
        self._drop_connections()

    def resume(self) -> None:
        self.stalled = False
        if self._listener is None:
            self.start()

    def _drop_connections(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self._connections.append(client)
            if self.stalled:
                continue  # hold it open, say nothing
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if self.stalled:
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass


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
    log = _log_file(log_dir, name)
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
        wait_until(
            lambda: b" ready." in log_path.read_bytes(),
            timeout=90,
            what=f"worker (log: {log_path})",
            process=process,
        )
        yield process
    finally:
        stop(process)
