"""Faults, with real processes: a stalled or refused broker, a database that is
gone, a worker's pool child or whole worker killed, a worker asked to stop.
Each test records the times it measured; they are printed after the run.
"""

import hashlib
import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
import requests

from tests.support.faults import TcpProxy
from tests.support.processes import django_run, stop, wait_until
from tests.support.services import (
    POSTGRES_URL,
    REDIS_URL,
    fresh_database,
    postgres_reachable,
    redis_reachable,
    redis_server,
    require,
)
from tests.support.stack import (
    child_pids,
    running_stack,
    stack_env,
    start_worker,
    wait_for_job,
    web_server,
    worker,
)

# Jobs take this long in the worker, so that a fault can strike mid-job.
SLOW_JOB = "3"


@pytest.fixture
def own_redis(tmp_path, shared_redis):
    """A Redis of this test's own, which it may pause and stop."""
    with redis_server(tmp_path / "logs") as (process, port):
        yield process, port


def timed_post(url: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(url, timeout=30)
    return response, time.monotonic() - started


def wait_for_status(task_url: str, wanted: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(task_url, timeout=5).json()["task_status"] == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"{task_url} never reached {wanted}")


def add_dated_todos(base: str, count: int = 3) -> None:
    for n in range(count):
        requests.post(
            f"{base}/api/v1/todos",
            json={"title": f"todo {n}", "deadline_at": "2030-01-01T00:00:00"},
            timeout=5,
        ).raise_for_status()


def one_result(env_base: str, task_id: str, media: str) -> None:
    """The job succeeded once: one calendar file, holding every dated todo."""
    files = os.listdir(os.path.join(media, "calendars"))
    result = requests.get(f"{env_base}/api/v1/todos/ical/{task_id}/result", timeout=5)
    assert result.status_code == 200
    assert files == [f"{hashlib.sha256(result.content).hexdigest()}.ics"]
    assert result.content.count(b"BEGIN:VEVENT") == 3


# --- broker ---------------------------------------------------------------------


def test_a_paused_broker_answers_503_within_3_s_then_recovers(
    tmp_path, own_redis, database_url, fault_times
):
    redis_process, port = own_redis
    env = stack_env(
        tmp_path, database_url, CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"
    )
    with web_server(env, tmp_path / "logs") as base, worker(env, tmp_path / "logs"):
        jobs = f"{base}/api/v1/todos/ical"
        redis_process.send_signal(signal.SIGSTOP)
        try:
            response, seconds = timed_post(jobs)
            health = requests.get(f"{base}/api/v1/health", timeout=10)
        finally:
            redis_process.send_signal(signal.SIGCONT)
        fault_times.append(("POST /todos/ical, broker paused (SIGSTOP)", seconds))
        assert response.status_code == 503 and seconds < 3
        assert "queue" in response.json()["error"]
        assert health.status_code == 503 and health.json()["broker"] != "ok"
        failed = requests.get(
            f"{jobs}/{response.json()['task_id']}/status", timeout=5
        ).json()
        assert failed["task_status"] == "FAILURE"  # not left PENDING for ever

        # Once the broker answers again, new jobs work; nothing was restarted.
        response, _ = timed_post(jobs)
        assert response.status_code == 202
        status, seconds = wait_for_job(base, response.json()["task_url"], timeout=60)
        fault_times.append(("job after the broker resumed, POST -> SUCCESS", seconds))
        assert status == "SUCCESS"


def test_a_stopped_broker_answers_503_within_3_s_then_recovers(
    tmp_path, shared_redis, database_url, fault_times
):
    # The stack's Redis is one of ours, so that it can be stopped and started.
    with redis_server(tmp_path / "logs") as (redis_process, port):
        env = stack_env(
            tmp_path, database_url, CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"
        )
        with web_server(env, tmp_path / "logs") as base:
            stop(redis_process)
            response, seconds = timed_post(f"{base}/api/v1/todos/ical")
            fault_times.append(("POST /todos/ical, broker refusing", seconds))
            assert response.status_code == 503 and seconds < 3

    # A new Redis on the same port: the running web server publishes again.
    with redis_server(tmp_path / "logs") as (_, port):
        env = stack_env(
            tmp_path, database_url, CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"
        )
        with web_server(env, tmp_path / "logs") as base, worker(env, tmp_path / "logs"):
            response, _ = timed_post(f"{base}/api/v1/todos/ical")
            assert response.status_code == 202
            status, _ = wait_for_job(base, response.json()["task_url"], timeout=60)
            assert status == "SUCCESS"


# --- database -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["refused", "stalled"])
def test_a_database_that_is_gone_gives_503_json_within_3_s(
    tmp_path, shared_redis, fault, fault_times
):
    require("postgresql", postgres_reachable(), POSTGRES_URL)
    with fresh_database(POSTGRES_URL, tmp_path) as url:
        env = stack_env(tmp_path, url)  # migrated directly, then behind the proxy
        proxy = TcpProxy(target_port=5432).start()
        env["DATABASE_URL"] = url.replace(":5432/", f":{proxy.port}/")
        with web_server(env, tmp_path / "logs") as base:
            assert requests.get(f"{base}/api/v1/health", timeout=5).status_code == 200
            proxy.refuse() if fault == "refused" else proxy.stall()

            started = time.monotonic()
            health = requests.get(f"{base}/api/v1/health", timeout=10)
            fault_times.append((f"GET /health, database {fault}", _since(started)))
            assert health.status_code == 503 and _since(started) < 3
            body = health.json()
            assert body["status"] == "error" and body["database"] != "ok"
            assert body["broker"] == "ok"

            for method, path in [("GET", "/todos"), ("POST", "/todos/ical")]:
                started = time.monotonic()
                response = requests.request(method, f"{base}/api/v1{path}", timeout=10)
                seconds = _since(started)
                fault_times.append((f"{method} {path}, database {fault}", seconds))
                assert response.status_code == 503 and seconds < 3
                assert "database" in response.json()["error"].lower()

            proxy.resume()
            assert requests.get(f"{base}/api/v1/health", timeout=5).json() == {
                "status": "ok"
            }
        proxy.refuse()


def _since(started: float) -> float:
    return time.monotonic() - started


# --- workers --------------------------------------------------------------------


# Where two mechanisms could rescue a job, each test switches the other off, so
# that it fails when its own mechanism alone is removed.
NO_SWEEP = {"ICAL_SWEEP_INTERVAL": "0"}  # only the broker can deliver again
# Beats and sweeps a second apart: a dead worker's job is found in seconds.
QUICK_SWEEP = {"ICAL_HEARTBEAT_SECONDS": "1", "ICAL_SWEEP_INTERVAL": "1"}
# Generous bounds for a loaded 2-core machine: timeouts, not measures of speed.
JOB_TIMEOUT = 60


@pytest.fixture
def slow_stack(request, tmp_path, database_url):
    """Web on a broker + the suite's database; jobs take SLOW_JOB seconds.

    Parametrized indirectly by (broker, extra environment); time limits are
    the defaults.
    """
    broker_name, extra = getattr(request, "param", ("redis", {}))
    if broker_name == "redis":
        require("redis", redis_reachable(), REDIS_URL)
        broker = {
            "CELERY_BROKER_URL": f"{REDIS_URL}/0",
            "CELERY_DEFAULT_QUEUE": f"ical-faults-{uuid.uuid4().hex[:8]}",
        }
    else:
        broker = {}  # the embedded default, a folder of the test's own
    env = stack_env(
        tmp_path, database_url, ICAL_SIMULATED_DELAY=SLOW_JOB, **broker, **extra
    )
    with web_server(env, tmp_path / "logs") as base:
        add_dated_todos(base)
        yield env, base


def start_slow_job(base: str) -> tuple[str, str]:
    job = requests.post(f"{base}/api/v1/todos/ical", timeout=5).json()
    wait_for_status(job["task_url"], "STARTED")
    return job["task_id"], job["task_url"]


@pytest.mark.parametrize("slow_stack", [("redis", NO_SWEEP)], indirect=True)
def test_a_killed_pool_child_s_job_is_delivered_again_by_the_broker(
    tmp_path, slow_stack, fault_times
):
    """acks_late + reject_on_worker_lost: the broker delivers the job again at
    once. The sweep is off, so nothing else could rescue it, and the Redis
    visibility timeout (the time limit + 60 s) is far beyond the wait."""
    env, base = slow_stack
    with worker(env, tmp_path / "logs") as process:
        task_id, task_url = start_slow_job(base)
        children = child_pids(process.pid)
        assert children, "the worker has a pool child to kill"
        killed_at = time.monotonic()
        for child in children:
            os.kill(child, signal.SIGKILL)
        status, _ = wait_for_job(base, task_url, timeout=JOB_TIMEOUT)
        fault_times.append(("pool child SIGKILLed -> SUCCESS", _since(killed_at)))
    assert status == "SUCCESS"
    one_result(base, task_id, env["MEDIA_ROOT"])


@pytest.mark.parametrize(
    "slow_stack", [("redis", QUICK_SWEEP), ("filesystem", QUICK_SWEEP)], indirect=True
)
def test_a_killed_worker_s_job_is_sent_again_by_the_sweep(
    tmp_path, slow_stack, fault_times
):
    """A whole worker SIGKILLed: no broker delivers its job again within the
    wait (the filesystem broker lost it; Redis hides it for the time limit +
    60 s), so only the sweep, seeing three missed beats, can."""
    env, base = slow_stack
    first = start_worker(env, tmp_path / "logs", name="first")
    task_id, task_url = start_slow_job(base)
    os.killpg(first.pid, signal.SIGKILL)  # the whole worker: main and pool
    first.wait(timeout=10)

    with worker(env, tmp_path / "logs", name="second"):
        started = time.monotonic()
        status, _ = wait_for_job(base, task_url, timeout=JOB_TIMEOUT)
        seconds = _since(started)
    broker = "redis" if "CELERY_BROKER_URL" in env else "filesystem"
    fault_times.append(
        (
            f"whole worker SIGKILLed ({broker}), 1 s beats; new worker -> SUCCESS",
            seconds,
        )
    )
    assert status == "SUCCESS"
    one_result(base, task_id, env["MEDIA_ROOT"])


def test_a_job_past_its_soft_time_limit_ends_failure_with_the_reason(tmp_path):
    """ICAL_TIME_LIMIT 4: the soft limit (3 s) stops a 30 s job with a reason
    a person can read, before the hard limit kills it."""
    limits = {"ICAL_TIME_LIMIT": "4", "ICAL_SIMULATED_DELAY": "30"}
    with running_stack(
        tmp_path, database_url=os.environ.get("DATABASE_URL"), **limits, **NO_SWEEP
    ) as stack:
        job = requests.post(f"{stack.base}/api/v1/todos/ical", timeout=5).json()
        status, _ = wait_for_job(stack.base, job["task_url"], timeout=JOB_TIMEOUT)
        result = requests.get(job["task_url"].replace("/status", "/result"), timeout=5)
    assert status == "FAILURE"
    assert result.json() == {"error": "Task failed", "detail": "Took longer than 3 s."}


def test_a_ready_worker_sweeps_at_once_and_then_every_interval(tmp_path, database_url):
    """The worker_ready hook starts the sweep: its first pass expires old jobs,
    and a later pass sends again a job left STARTED with no message at all (a
    worker killed on a broker that lost its message)."""
    env = stack_env(tmp_path, database_url, **QUICK_SWEEP)
    expired = insert_job(env, status="SUCCESS", finished_at=timedelta(days=30))
    with web_server(env, tmp_path / "logs") as base, worker(env, tmp_path / "logs"):
        jobs = f"{base}/api/v1/todos/ical"
        wait_until(
            lambda: (
                requests.get(f"{jobs}/{expired}/status", timeout=5).status_code == 404
            ),
            timeout=JOB_TIMEOUT,
            what="the old job expired",
        )
        # Its last beat a minute ago, and nothing in any queue.
        orphan = insert_job(env, status="STARTED", heartbeat_at=timedelta(minutes=1))
        status, _ = wait_for_job(base, f"{jobs}/{orphan}/status", timeout=JOB_TIMEOUT)
    assert status == "SUCCESS"


def insert_job(env: dict[str, str], *, status: str, **ago: timedelta) -> str:
    """A job row straight in the stack's database, its times `ago` in the
    past, sent once, with no message; its id."""
    fields = ", ".join(f"{name}=now - {age!r}" for name, age in ago.items())
    result = django_run(
        "import datetime\n"
        "from django.utils import timezone\n"
        "from calendars.models import CalendarExport\n"
        "now = timezone.now()\n"
        f"job = CalendarExport.objects.create(status={status!r}, sends=1)\n"
        f"CalendarExport.objects.filter(pk=job.pk).update({fields})\n"
        "print(job.pk)",
        env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_sigterm_lets_the_running_job_finish(tmp_path, slow_stack, fault_times):
    env, base = slow_stack
    process = start_worker(env, tmp_path / "logs")
    task_id, task_url = start_slow_job(base)
    started = time.monotonic()
    process.terminate()
    process.wait(timeout=60)
    fault_times.append(("SIGTERM mid-job -> worker exited", _since(started)))

    status = requests.get(task_url, timeout=5).json()["task_status"]
    assert status == "SUCCESS", "the worker finished the job before it exited"
    one_result(base, task_id, env["MEDIA_ROOT"])
