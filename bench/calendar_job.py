"""A calendar job at scale: POST -> SUCCESS, the worker's memory, the result.

Starts a fresh database, gunicorn and one Celery worker process whose pool has
one child (`--concurrency=1`: every job runs in that one process), as `make run`
does. For each size, in ascending order, adds todos (bulk_create) up to that
many, all with a deadline, then runs --jobs jobs one after another: POST, poll
the status every 10 ms until SUCCESS, download the calendar and count its events,
and ask again with If-None-Match (304 expected). The worker's peak memory growth
is the child's VmHWM after the job less its VmRSS before it; the peak is reset
before each job through /proc/PID/clear_refs. The baseline is the smallest size,
measured in the same run.

    .venv/bin/python -m bench.calendar_job [--sizes 1000 100000] [--jobs 3]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres | sqlite]
        [--broker redis://127.0.0.1:6379 | filesystem]

The goal (issue 8), on PostgreSQL and Redis: 1,000 todos reach SUCCESS within
0.2 s, 100,000 within 3 s, and the worker grows by at most 100 MiB.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import requests

from bench import add_stack_options, bench_stack
from tests.support.processes import django_run
from tests.support.stack import add_todos, child_pids

GOAL_SECONDS = {1000: 0.2, 100_000: 3.0}
GOAL_PEAK_MIB = 100
MIB = 1024 * 1024
POLL_SECONDS = 0.01


def proc_kib(pid: int, field: str) -> int:
    """A figure of /proc/PID/status in KiB: VmRSS now, VmHWM its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from VmRSS (Linux 4.0+), so each job has its own peak."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # then the first job's peak is the one that counts


def pool_child(worker_pid: int) -> int:
    """The one process of the worker's pool, where jobs run."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = child_pids(worker_pid)
        if len(found) == 1:
            return found[0]
        time.sleep(0.1)
    raise RuntimeError(f"worker {worker_pid} has no single pool child: {found}")


def run_job(session: requests.Session, base: str, child: int) -> dict:
    reset_peak(child)
    rss_before = proc_kib(child, "VmRSS")
    started = time.perf_counter()
    job = session.post(f"{base}/api/v1/todos/ical", timeout=10).json()
    while True:
        status = session.get(job["task_url"], timeout=10).json()["task_status"]
        elapsed = time.perf_counter() - started
        if status == "SUCCESS":
            break
        if status == "FAILURE" or elapsed > 120:
            raise RuntimeError(f"job {job['task_id']} is {status} after {elapsed} s")
        time.sleep(POLL_SECONDS)
    peak_growth = proc_kib(child, "VmHWM") - rss_before

    result_url = job["task_url"].replace("/status", "/result")
    response = session.get(result_url, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"result: {response.status_code} {response.text[:200]}")
    if len(response.content) != int(response.headers["Content-Length"]):
        raise RuntimeError("the calendar is not as long as its Content-Length")
    again = session.get(
        result_url, headers={"If-None-Match": response.headers["ETag"]}, timeout=10
    )
    return {
        "task_id": job["task_id"],
        "seconds": elapsed,
        "peak_growth_kib": peak_growth,
        "rss_before_kib": rss_before,
        "events": response.content.count(b"BEGIN:VEVENT\r\n"),
        "bytes": len(response.content),
        "not_modified": again.status_code == 304,
    }


def build_seconds(env: dict[str, str]) -> dict[str, float]:
    """Each job's time in the worker, started_at to finished_at, from its row."""
    code = """
import json
from calendars.models import CalendarExport
print(json.dumps({
    str(job.id): (job.finished_at - job.started_at).total_seconds()
    for job in CalendarExport.objects.filter(status="SUCCESS")
}))
"""
    result = django_run(code, env)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def goal(size: int, max_seconds: float, peak_mib: float) -> str:
    limit = GOAL_SECONDS.get(size)
    if limit is None:
        return f"peak <= {GOAL_PEAK_MIB} MiB: " + (
            "met" if peak_mib <= GOAL_PEAK_MIB else "MISSED"
        )
    met = max_seconds <= limit and peak_mib <= GOAL_PEAK_MIB
    return f"<= {limit} s, <= {GOAL_PEAK_MIB} MiB: " + ("met" if met else "MISSED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--jobs", type=int, default=3)
    add_stack_options(parser)
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))

    results: dict[int, list[dict]] = {}
    with (
        bench_stack(args, name="bench-calendar", worker_concurrency=1) as (stack, _),
        requests.Session() as session,
    ):
        env, base = stack.env, stack.base
        child = pool_child(stack.worker.pid)
        run_job(session, base, child)  # warm up imports and connections; not counted

        created = 0
        for size in sizes:
            add_todos(env, size - created, first=created + 1)
            created = size
            results[size] = [run_job(session, base, child) for _ in range(args.jobs)]
        in_worker = build_seconds(env)

    vendor = "SQLite" if args.database_url == "sqlite" else "PostgreSQL"
    broker = "embedded (filesystem)" if args.broker == "filesystem" else "Redis"
    print(
        f"\nCalendar job at scale: {vendor}, {broker} broker, one worker process "
        f"(prefork, 1 child); {args.jobs} jobs per size, POST -> SUCCESS"
    )
    print(
        f"{'todos':>9}{'median s':>10}{'max s':>8}{'worker s':>10}{'events':>10}"
        f"{'file MiB':>10}{'peak MiB':>10}{f'vs {sizes[0]:,}':>10}   goal"
    )
    baseline = statistics.median(job["seconds"] for job in results[sizes[0]])
    for size in sizes:
        jobs = results[size]
        median = statistics.median(job["seconds"] for job in jobs)
        longest = max(job["seconds"] for job in jobs)
        worker_s = statistics.median(in_worker[job["task_id"]] for job in jobs)
        peak_mib = max(job["peak_growth_kib"] for job in jobs) / 1024
        events = {job["events"] for job in jobs}
        if events != {size}:
            raise RuntimeError(f"{size} todos gave calendars of {events} events")
        print(
            f"{size:>9,}{median:>10.3f}{longest:>8.3f}{worker_s:>10.3f}{size:>10,}"
            f"{jobs[0]['bytes'] / MIB:>10.1f}{peak_mib:>10.1f}"
            f"{median / baseline:>9.1f}x   {goal(size, longest, peak_mib)}"
        )
    all_jobs = [job for jobs in results.values() for job in jobs]
    rss = max(job["rss_before_kib"] for job in all_jobs) / 1024
    print(
        f"worker s: started_at to finished_at in the job row; peak MiB: the largest "
        f"growth of the worker child's VmHWM over its RSS before the job ({rss:.0f} "
        "MiB); 304 on If-None-Match with the ETag: "
        + ("every job" if all(job["not_modified"] for job in all_jobs) else "NOT ALL")
    )


if __name__ == "__main__":
    main()
