"""Faults, with real processes: a stalled or refused broker, a database that is
gone, a worker's pool child or whole worker killed, a worker asked to stop.
Each test records the times it measured; they are printed after the run.
"""

import hashlib
import os
import signal
import time
import uuid

import pytest
import requests

from tests.support.faults import TcpProxy
from tests.support.processes import stop
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


@pytest.fixture(params=["redis"])
def slow_stack(request, tmp_path, database_url):
    """Web on a broker + the suite's database; jobs take SLOW_JOB seconds.

    Every other setting is the default: time limits, heartbeat, sweep.
    """
    if request.param == "redis":
        require("redis", redis_reachable(), REDIS_URL)
        broker = {
            "CELERY_BROKER_URL": f"{REDIS_URL}/0",
            "CELERY_DEFAULT_QUEUE": f"ical-faults-{uuid.uuid4().hex[:8]}",
        }
    else:
        broker = {}  # the embedded default, a folder of the test's own
    env = stack_env(tmp_path, database_url, ICAL_SIMULATED_DELAY=SLOW_JOB, **broker)
    with web_server(env, tmp_path / "logs") as base:
        add_dated_todos(base)
        yield env, base


def start_slow_job(base: str) -> tuple[str, str]:
    job = requests.post(f"{base}/api/v1/todos/ical", timeout=5).json()
    wait_for_status(job["task_url"], "STARTED")
    return job["task_id"], job["task_url"]


def test_a_killed_pool_child_does_not_lose_the_job(tmp_path, slow_stack, fault_times):
    env, base = slow_stack
    with worker(env, tmp_path / "logs") as process:
        task_id, task_url = start_slow_job(base)
        killed_at = time.monotonic()
        for child in child_pids(process.pid):
            os.kill(child, signal.SIGKILL)
        status, _ = wait_for_job(base, task_url, timeout=60)
        fault_times.append(("pool child SIGKILLed -> SUCCESS", _since(killed_at)))
    assert status == "SUCCESS"
    one_result(base, task_id, env["MEDIA_ROOT"])


@pytest.mark.parametrize("slow_stack", ["redis", "filesystem"], indirect=True)
def test_a_killed_worker_s_job_finishes_on_the_next_worker(
    tmp_path, slow_stack, fault_times
):
    env, base = slow_stack
    first = start_worker(env, tmp_path / "logs", name="first")
    task_id, task_url = start_slow_job(base)
    os.killpg(first.pid, signal.SIGKILL)  # the whole worker: main and pool
    first.wait(timeout=10)

    with worker(env, tmp_path / "logs", name="second"):
        started = time.monotonic()
        status, _ = wait_for_job(base, task_url, timeout=90)
        seconds = _since(started)
    broker = "redis" if "CELERY_BROKER_URL" in env else "filesystem"
    fault_times.append(
        (f"whole worker SIGKILLed ({broker}); new worker -> SUCCESS", seconds)
    )
    assert status == "SUCCESS" and seconds < 60
    one_result(base, task_id, env["MEDIA_ROOT"])


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
