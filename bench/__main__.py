"""Issue 15's goals in one run: TaskOverflow against what a learner would run
instead, each figure beside its baseline's, measured in the same run.

    .venv/bin/python -m bench [--only api,jobs,lists,calendars] [--duration 10]
        [--jobs 30] [--database-url postgres://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379]

- api: gunicorn with 3 processes each side, production settings, 100 todos on
  one PostgreSQL database; wrk -t2 -c16 against each route, ours then the
  baseline's (Flask + Flask-SQLAlchemy, bench/baselines/flask_todos.py).
- jobs: a 10-todo calendar job on Redis, POST -> SUCCESS polled every 5 ms,
  ours and the baseline's (Flask + Celery, status from Celery's Redis result
  backend) taken in turns; then ours on the embedded broker.
- lists: GET /api/v1/todos of 100,000 todos, time and the web process's growth,
  ours and the Flask baseline's.
- calendars: a calendar job of 100,000 todos, POST -> SUCCESS, and the worker's
  growth; the baseline is Flask + Celery's job over the same todos.

Needs PostgreSQL, Redis and wrk; the baselines' virtualenv is built on first use.
"""

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import BUSY_CLIENT
from bench.baselines.run import (
    FlaskCeleryStack,
    ensure_baseline_venv,
    flask_api,
    flask_celery,
)
from bench.calendar_job import pool_child, proc_kib, reset_peak
from tests.support.stack import (
    PRODUCTION_OVER_HTTP,
    RunningStack,
    add_todos,
    running_stack,
)

# Production settings over plain HTTP, on the open contract: the baselines have
# no accounts. One very busy client: its limits lifted.
PRODUCTION = {**PRODUCTION_OVER_HTTP, **BUSY_CLIENT}
PUT_BODY = '{"title": "renamed", "completed": true}'
POST_BODY = '{"title": "bench", "deadline_at": "2030-01-02T09:00:00"}'
POLL_SECONDS = 0.005


@dataclass(frozen=True)
class Figure:
    measure: str
    ours: float
    baseline: float
    unit: str
    goal: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def wrk(
    base: str, method: str, path: str, body: str | None, folder: Path, duration: int
) -> float:
    """Requests per second from wrk -t2 -c16; any error or non-2xx answer fails
    the run. `{id}` in `path` is a todo id from 1 to 100, at random per request."""
    script = folder / "request.lua"
    script.write_text(
        WRK_SCRIPT.replace("METHOD", method)
        .replace("PATH", path.replace("{id}", '" .. math.random(1, 100) .. "'))
        .replace("BODY", json.dumps(body) if body else "nil")
    )
    result = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{duration}s", "--timeout", "10s"]
        + ["-s", str(script), base],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    requests_done, seconds, errors = line.split()[1:]
    if int(errors):
        raise RuntimeError(f"{method} {base}{path}: {errors} errors\n{result.stdout}")
    return int(requests_done) / float(seconds)


WRK_SCRIPT = """
request = function()
  return wrk.format("METHOD", "PATH", {["Content-Type"] = "application/json"}, BODY)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %f %d\\n", summary.requests,
    summary.duration / 1e6, e.status + e.connect + e.read + e.write + e.timeout))
end
"""


@contextmanager
def our_stack(
    folder: Path,
    args,
    *,
    broker: str,
    workers: int = 3,
    worker_concurrency: int | None = 1,
) -> Iterator[RunningStack]:
    """TaskOverflow on production settings: gunicorn `workers` processes and,
    unless `worker_concurrency` is None, a Celery worker of that many."""
    with running_stack(
        folder,
        database_url=args.database_url,
        broker=broker,
        name=f"bench-{folder.name}",
        web_workers=workers,
        worker_concurrency=worker_concurrency,
        **PRODUCTION,
    ) as stack:
        yield stack


def api_figures(args, folder: Path, venv: Path) -> list[Figure]:
    folder = folder / "api"
    folder.mkdir()
    with (
        our_stack(folder, args, broker="embedded", worker_concurrency=None) as ours,
        flask_api(
            ours.env["DATABASE_URL"], workers=3, log_dir=folder, venv=venv
        ) as base,
    ):
        add_todos(ours.env, 100)
        routes = [
            ("GET /api/v1/todos (100 todos)", "GET", "/api/v1/todos", None, 1.25),
            ("GET /api/v1/todos/{id}", "GET", "/api/v1/todos/{id}", None, 1.0),
            ("PUT /api/v1/todos/{id}", "PUT", "/api/v1/todos/{id}", PUT_BODY, 1.0),
            ("POST /api/v1/todos", "POST", "/api/v1/todos", POST_BODY, 1.0),
        ]
        figures = []
        for name, method, path, body, goal in routes:
            # Ours, the baseline's, the baseline's, ours: a load that drifts
            # during the four runs weighs on both sides alike.
            runs = {ours.base: 0.0, base: 0.0}
            for server in (ours.base, base, base, ours.base):
                runs[server] += wrk(server, method, path, body, folder, args.duration)
            mine, theirs = runs[ours.base] / 2, runs[base] / 2
            figures.append(
                Figure(
                    name, mine, theirs, "req/s", f">= {goal}x", mine / theirs >= goal
                )
            )
        return figures


def job_seconds(session: requests.Session, base: str) -> float:
    """POST a calendar job and poll its status every 5 ms until SUCCESS."""
    started = time.perf_counter()
    job = session.post(f"{base}/api/v1/todos/ical", timeout=10).json()
    while True:
        status = session.get(job["task_url"], timeout=10).json()["task_status"]
        elapsed = time.perf_counter() - started
        if status == "SUCCESS":
            return elapsed
        if status == "FAILURE" or elapsed > 120:
            raise RuntimeError(f"job {job['task_url']} is {status} after {elapsed} s")
        time.sleep(POLL_SECONDS)


def median_of(run: Callable[[], float], count: int) -> float:
    for _ in range(3):
        run()  # warm up connections and imports; not counted
    return statistics.median(run() for _ in range(count))


@contextmanager
def job_stacks(
    args, folder: Path, venv: Path, *, todos: int
) -> Iterator[tuple[RunningStack, FlaskCeleryStack]]:
    """Ours and the Flask + Celery baseline on Redis, one worker process and
    two web processes each, over the same `todos` todos in one database."""
    with (
        our_stack(folder, args, broker=args.redis_url, workers=2) as ours,
        flask_celery(
            ours.env["DATABASE_URL"],
            f"{args.redis_url.rstrip('/')}/13",
            log_dir=folder,
            workers=2,
            venv=venv,
        ) as base,
    ):
        add_todos(ours.env, todos)
        yield ours, base


def job_figures(args, folder: Path, venv: Path) -> list[Figure]:
    folder = folder / "jobs"
    folder.mkdir()
    with job_stacks(args, folder, venv, todos=10) as (ours, base):
        session = requests.Session()
        mine: list[float] = []
        theirs: list[float] = []
        for _ in range(3):
            job_seconds(session, ours.base)
            job_seconds(session, base.base_url)
        for _ in range(args.jobs):  # in turns: both meet the same load
            mine.append(job_seconds(session, ours.base))
            theirs.append(job_seconds(session, base.base_url))
    redis_ms = statistics.median(mine) * 1000
    baseline_ms = statistics.median(theirs) * 1000
    embedded_folder = folder / "embedded"
    embedded_folder.mkdir()
    with our_stack(embedded_folder, args, broker="embedded", workers=2) as ours:
        add_todos(ours.env, 10)
        embedded_ms = 1000 * median_of(
            lambda: job_seconds(requests.Session(), ours.base),
            args.jobs,
        )
    return [
        Figure(
            "10-todo job on Redis, median",
            redis_ms,
            baseline_ms,
            "ms",
            "<= 1.0x",
            redis_ms <= baseline_ms,
        ),
        Figure(
            "10-todo job, embedded, median",
            embedded_ms,
            baseline_ms,
            "ms",
            "<= 60 ms",
            embedded_ms <= 60,
        ),
    ]


def web_workers(base: str) -> list[int]:
    """The worker processes of the gunicorn serving `base`: of the processes
    that hold its listening socket (`ss`), those whose parent holds it too.
    (gunicorn rewrites its processes' command lines and environment.)"""
    port = base.rsplit(":", 1)[1]
    listing = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    holders = {int(pid) for pid in re.findall(r"pid=(\d+)", listing)}
    return sorted(pid for pid in holders if parent_pid(pid) in holders)


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def list_seconds_and_growth(base: str) -> tuple[float, float]:
    """GET the 100,000-todo list (median time of 3) and the web process's
    largest growth of peak memory over its size before, in MiB."""
    (pid,) = web_workers(base)
    url = f"{base}/api/v1/todos"
    runs = []
    for _ in range(3):
        reset_peak(pid)
        before = proc_kib(pid, "VmRSS")
        started = time.perf_counter()
        response = requests.get(url, timeout=300)
        seconds = time.perf_counter() - started
        if response.status_code != 200 or len(response.json()) != 100_000:
            raise RuntimeError(f"{url}: {response.status_code}, not 100,000 todos")
        runs.append((seconds, (proc_kib(pid, "VmHWM") - before) / 1024))
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def list_figures(args, folder: Path, venv: Path) -> list[Figure]:
    folder = folder / "lists"
    folder.mkdir()
    with (
        our_stack(
            folder, args, broker="embedded", workers=1, worker_concurrency=None
        ) as ours,
        flask_api(
            ours.env["DATABASE_URL"], workers=1, log_dir=folder, venv=venv
        ) as base,
    ):
        add_todos(ours.env, 100_000)
        requests.get(f"{ours.base}/api/v1/todos/1", timeout=10)  # warm up
        mine_s, mine_mib = list_seconds_and_growth(ours.base)
        theirs_s, theirs_mib = list_seconds_and_growth(base)
    return [
        Figure(
            "GET 100,000 todos, median s", mine_s, theirs_s, "s", "<= 1 s", mine_s <= 1
        ),
        Figure(
            "  its web process growth",
            mine_mib,
            theirs_mib,
            "MiB",
            "<= 50 MiB",
            mine_mib <= 50,
        ),
    ]


def calendar_job_seconds(base: str, worker_pid: int) -> tuple[float, float]:
    """A calendar job over every todo: POST -> SUCCESS, and the worker pool
    child's largest growth of peak memory, in MiB."""
    child = pool_child(worker_pid)
    reset_peak(child)
    before = proc_kib(child, "VmRSS")
    seconds = job_seconds(requests.Session(), base)
    return seconds, (proc_kib(child, "VmHWM") - before) / 1024


def calendar_figures(args, folder: Path, venv: Path) -> list[Figure]:
    folder = folder / "calendars"
    folder.mkdir()
    with job_stacks(args, folder, venv, todos=100_000) as (ours, base):
        calendar_job_seconds(ours.base, ours.worker.pid)  # warm
        runs = [calendar_job_seconds(ours.base, ours.worker.pid) for _ in range(3)]
        mine_s = statistics.median(r[0] for r in runs)
        mine_mib = max(r[1] for r in runs)
        theirs_s, theirs_mib = calendar_job_seconds(base.base_url, base.worker.pid)
    return [
        Figure(
            "100,000-todo calendar job, median s",
            mine_s,
            theirs_s,
            "s",
            "<= 0.8 s",
            mine_s <= 0.8,
        ),
        Figure(
            "  its worker growth",
            mine_mib,
            theirs_mib,
            "MiB",
            "<= 100 MiB",
            mine_mib <= 100,
        ),
    ]


SECTIONS = {
    "api": (
        "API: production settings, gunicorn 3 processes each side, 100 todos, "
        "wrk -t2 -c16",
        api_figures,
    ),
    "jobs": ("Jobs: POST -> SUCCESS polled every 5 ms", job_figures),
    "lists": ("Big lists: one gunicorn process each side", list_figures),
    "calendars": ("Calendars: Redis, one worker process each side", calendar_figures),
}


def print_figures(title: str, figures: list[Figure]) -> None:
    print(f"\n{title}")
    print(f"{'measure':<38}{'ours':>10}{'baseline':>10}  {'unit':<6}{'ratio':>7}  goal")
    for figure in figures:
        print(
            f"{figure.measure:<38}{figure.ours:>10.1f}{figure.baseline:>10.1f}  "
            f"{figure.unit:<6}{figure.ratio:>6.2f}x  {figure.goal}: "
            + ("met" if figure.met else "MISSED")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--jobs", type=int, default=30, help="jobs per median")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := set(chosen) - set(SECTIONS):
        parser.error(
            f"unknown sections {sorted(unknown)}; choose from {list(SECTIONS)}"
        )

    venv = ensure_baseline_venv()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        for name in chosen:
            title, measure = SECTIONS[name]
            print_figures(title, measure(args, Path(folder), venv))
    print(
        "\nratio: ours / baseline's, both measured in this run; baselines: "
        "Flask + Flask-SQLAlchemy (API, lists), Flask + Celery (jobs, calendars), "
        "bench/baselines/"
    )


if __name__ == "__main__":
    main()
