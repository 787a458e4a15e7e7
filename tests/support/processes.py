"""Processes of the project, started as people start them: the project's
environment, bounded waits, and a stop that behaves like a container's."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
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
    "ICAL_SWEEP_INTERVAL",
    "ICAL_HEARTBEAT_SECONDS",
    "ICAL_RESULT_EXPIRY_DAYS",
    "NUM_PROXIES",
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
    "WEB_THREADS",
    "WEB_MAX_CONNECTIONS",
    "WEB_KEEPALIVE",
    "WEB_ACCESS_LOG",
    "WEB_HEADER_TIMEOUT",
    "WEB_CLIENT_TIMEOUT",
    "WEB_TIMEOUT",
    "API_MAX_BODY_BYTES",
    "CACHE_URL",
    "CSRF_TRUSTED_ORIGINS",
    "ICAL_RATE_LIMIT",
    "TODO_WRITE_RATE_LIMIT",
    "ICAL_MAX_QUEUED_PER_CLIENT",
    "ICAL_STORAGE_BUDGET_MB",
    "ICAL_DOWNLOAD_URL_SECONDS",
    "ACCOUNTS",
    "ACCOUNTS_SIGNUP",
    "FEED_QUIET_SECONDS",
    "FEED_MAX_WAIT_SECONDS",
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


def log_file(log_dir: Path, name: str):
    log_dir.mkdir(parents=True, exist_ok=True)
    return open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed by the caller


def migrate(env: dict[str, str]) -> None:
    result = run_python(["manage.py", "migrate", "--noinput"], env, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed: {result.stderr}")


def wait_for_worker(process: subprocess.Popen, log_path: Path, *, timeout: float):
    """Until the Celery worker writing `log_path` says it is ready."""
    wait_until(
        lambda: b" ready." in log_path.read_bytes(),
        timeout=timeout,
        what=f"celery worker (log: {log_path})",
        process=process,
    )
