"""Start the plain alternatives as processes, for the bench: venv, API, jobs.

Standard library only, so that the service's own Python imports it; the
baselines themselves run from a virtualenv of their own (`ensure_baseline_venv`),
never from the service's.

    venv = ensure_baseline_venv()
    with flask_api(database_url, workers=3, log_dir=logs, venv=venv) as base:
        ...  # base = "http://127.0.0.1:PORT"; GET {base}/api/v1/todos
    with flask_celery(database_url, "redis://127.0.0.1:6379/14", log_dir=logs,
                      venv=venv) as stack:
        ...  # POST {stack.base_url}/api/v1/todos/ical, then poll its task_url

Both serve TaskOverflow's table `todos_todo`: migrate the database with
TaskOverflow's migrations first. Every wait is bounded; each process runs in a
process group of its own, logs to a file under `log_dir`, and is stopped with
its children when the block ends.
"""

import fcntl
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BASELINES_DIR = Path(__file__).resolve().parent
REQUIREMENTS = BASELINES_DIR / "requirements.txt"
# Ignored by git through the repository's `.venv/` pattern.
DEFAULT_VENV = BASELINES_DIR / ".venv"
STAMP = ".baselines-installed"
# Settings of the caller's environment that must not reach a baseline process:
# each start sets its own. gunicorn reads the last two itself.
LEAKING = ("DATABASE_URL", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY")
LEAKING_PREFIXES = ("CELERY_", "BASELINE_")
QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


# --- the virtualenv ----------------------------------------------------------------


def _requirements_stamp() -> str:
    """What the venv was built from: the pins and the Python that runs them."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _is_current(venv: Path, stamp: str) -> bool:
    try:
        return (venv / STAMP).read_text() == stamp and (venv / "bin/gunicorn").exists()
    except OSError:
        return False


@contextmanager
def _exclusive(lock_path: Path, timeout: float) -> Iterator[None]:
    """A lock between bench runs, so that two never build one venv at once."""
    with open(lock_path, "a") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{lock_path} is held by another run for over {timeout} s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_baseline_venv(venv: Path = DEFAULT_VENV, *, timeout: float = 900) -> Path:
    """The baselines' virtualenv, created or brought up to requirements.txt.

    Does nothing when it was built from the same pins and Python (a stamp file
    says so); otherwise installs, within `timeout` seconds in all, with pip's
    output in `<venv>/install.log`. Returns the virtualenv's folder.
    """
    venv = Path(venv).resolve()
    stamp = _requirements_stamp()
    if _is_current(venv, stamp):
        return venv
    lock_name = f"taskoverflow-baselines-{hashlib.sha256(bytes(venv)).hexdigest()[:12]}"
    deadline = time.monotonic() + timeout
    with _exclusive(Path(tempfile.gettempdir()) / f"{lock_name}.lock", timeout):
        if _is_current(venv, stamp):  # another run built it while we waited
            return venv
        (venv / STAMP).unlink(missing_ok=True)
        if not (venv / "bin/python").exists():
            # The base interpreter's venv module, even when run from another venv.
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                timeout=max(deadline - time.monotonic(), 1),
            )
        log_path = venv / "install.log"
        with open(log_path, "wb") as log:
            result = subprocess.run(
                [str(venv / "bin/python"), "-m", "pip", "install"]
                + ["--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=max(deadline - time.monotonic(), 1),
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"installing {REQUIREMENTS} into {venv} failed:\n{_tail(log_path)}"
            )
        (venv / STAMP).write_text(stamp)
    return venv


# --- processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def baseline_env(**settings: str) -> dict[str, str]:
    """This environment, less anything that would configure a baseline, plus
    `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in LEAKING and not key.startswith(LEAKING_PREFIXES)
    }
    env.update(settings)
    return env


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """A process in a group of its own (so its children stop with it), logging to
    `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=BASELINES_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the process group, then SIGKILL if it is not gone in time."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Children the leader left behind (a gunicorn or pool worker) go too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen,
    log_path: Path,
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}; its log:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what} not ready after {timeout} s; its log:\n{_tail(log_path)}"
            )
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def _gunicorn(
    app: str,
    env: dict[str, str],
    *,
    workers: int,
    venv: Path,
    log_path: Path,
    access_log: bool,
    start_timeout: float,
) -> Iterator[str]:
    port = free_port()
    command = [str(venv / "bin/gunicorn"), "-w", str(workers)]
    command += ["-b", f"127.0.0.1:{port}", "--chdir", str(BASELINES_DIR)]
    # gunicorn 27's control socket defaults to one path per user, which every
    # other gunicorn on the machine would also take; the bench never uses it.
    command += ["--no-control-socket"]
    if access_log:
        command += ["--access-logfile", "-"]
    process = _start([*command, app], env, log_path)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(
            lambda: _answers(f"{base_url}/api/v1/health"),
            timeout=start_timeout,
            what=f"gunicorn {app}",
            process=process,
            log_path=log_path,
        )
        yield base_url
    finally:
        _stop(process)


@contextmanager
def flask_api(
    database_url: str,
    *,
    log_dir: Path,
    workers: int = 3,
    venv: Path | None = None,
    access_log: bool = False,
    start_timeout: float = 30,
) -> Iterator[str]:
    """The Flask + Flask-SQLAlchemy todo API under gunicorn (`workers` sync
    workers) on a free port of 127.0.0.1; yields its base URL once
    /api/v1/health answers 200.

    `database_url` is TaskOverflow's form (postgres://user@host:port/name), of a
    database TaskOverflow's migrations have made. gunicorn's defaults otherwise,
    as a learner runs it: no access log unless `access_log`.
    """
    venv = venv or ensure_baseline_venv()
    with _gunicorn(
        "flask_todos:create_app()",
        baseline_env(DATABASE_URL=database_url),
        workers=workers,
        venv=venv,
        log_path=Path(log_dir) / "baseline-flask-api.log",
        access_log=access_log,
        start_timeout=start_timeout,
    ) as base_url:
        yield base_url


@dataclass(frozen=True)
class FlaskCeleryStack:
    """A running Flask + Celery baseline: where to send requests, and its worker."""

    base_url: str
    queue: str
    worker: subprocess.Popen


@contextmanager
def flask_celery(
    database_url: str,
    redis_url: str,
    *,
    log_dir: Path,
    queue: str | None = None,
    workers: int = 3,
    concurrency: int = 1,
    venv: Path | None = None,
    access_log: bool = False,
    start_timeout: float = 60,
) -> Iterator[FlaskCeleryStack]:
    """The Flask + Celery calendar jobs: a Celery worker (`concurrency` pool
    processes) and the web app under gunicorn, on Redis as broker and result
    backend.

    `redis_url` names the database number (redis://127.0.0.1:6379/14). The jobs
    go to `queue` (a fresh name by default), and every key of this stack is
    under the prefix "<queue>:", deleted when the block ends, so that runs
    sharing a Redis never see each other's messages or results.
    """
    venv = venv or ensure_baseline_venv()
    queue = queue or f"baseline-ical-{uuid.uuid4().hex[:8]}"
    if not QUEUE_NAME.fullmatch(queue):
        raise ValueError(f"queue name {queue!r}: letters, digits, _ . - only")
    log_dir = Path(log_dir)
    env = baseline_env(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        CELERY_DEFAULT_QUEUE=queue,
        BASELINE_REDIS_KEY_PREFIX=f"{queue}:",
    )
    worker_log = log_dir / "baseline-celery-worker.log"
    try:
        worker = _start(
            [str(venv / "bin/celery"), "-A", "flask_celery_tasks", "worker"]
            + ["-l", "INFO", f"--concurrency={concurrency}"]
            + [f"--hostname={queue}@%h"],
            env,
            worker_log,
        )
        try:
            _wait_until(
                lambda: b" ready." in worker_log.read_bytes(),
                timeout=start_timeout,
                what="celery worker flask_celery_tasks",
                process=worker,
                log_path=worker_log,
            )
            with _gunicorn(
                "flask_celery:create_app()",
                env,
                workers=workers,
                venv=venv,
                log_path=log_dir / "baseline-flask-celery-web.log",
                access_log=access_log,
                start_timeout=start_timeout,
            ) as base_url:
                yield FlaskCeleryStack(base_url=base_url, queue=queue, worker=worker)
        finally:
            _stop(worker)
    finally:
        delete_redis_keys(venv, redis_url, prefix=f"{queue}:")


def delete_redis_keys(venv: Path, redis_url: str, *, prefix: str) -> int:
    """Delete the keys under `prefix`; how many there were. Uses the baselines'
    Redis client, so that this module needs nothing but the standard library."""
    script = (
        "import sys, redis\n"
        "client = redis.Redis.from_url(sys.argv[1], socket_timeout=5)\n"
        "keys = list(client.scan_iter(match=sys.argv[2] + '*', count=1000))\n"
        "print(client.delete(*keys) if keys else 0)\n"
    )
    result = subprocess.run(
        [str(venv / "bin/python"), "-c", script, redis_url, prefix],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(result.stdout.strip() or 0)
