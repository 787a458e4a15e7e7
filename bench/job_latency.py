"""Calendar job latency, POST -> SUCCESS, on each broker; Redis is the baseline.

Starts, for each broker, a fresh database, gunicorn and one Celery worker
process (as `make run` does), sends jobs one after another and polls each job's
status until SUCCESS. Prints median and 95th percentile, and each median as a
ratio to Redis's, measured in the same run.

    .venv/bin/python -m bench.job_latency [--jobs 50] [--database-url URL]

Needs Redis on 127.0.0.1:6379 (or --redis-url); moto's SQS server is started
here. Without --database-url each stack gets a fresh SQLite file.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench import BUSY_CLIENT
from tests.support.stack import running_stack

BROKERS = {"embedded (filesystem)": "embedded", "redis": None, "sqs (moto)": "sqs"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def job_latency(base: str) -> float:
    """Seconds from sending the POST to seeing SUCCESS, polling every 2 ms."""
    started = time.perf_counter()
    task_url = requests.post(f"{base}/api/v1/todos/ical", timeout=10).json()["task_url"]
    with requests.Session() as session:
        while True:
            status = session.get(task_url, timeout=10).json()["task_status"]
            if status == "SUCCESS":
                return time.perf_counter() - started
            if status == "FAILURE" or time.perf_counter() - started > 60:
                raise RuntimeError(f"job {task_url} ended {status}")
            time.sleep(0.002)


def measure(name: str, jobs: int, database_url: str | None, redis_url: str) -> list:
    broker = BROKERS[name] or redis_url
    with (
        tempfile.TemporaryDirectory() as folder,
        running_stack(
            Path(folder),
            database_url=database_url,
            broker=broker,
            name="bench-latency",
            worker_concurrency=2,
            **BUSY_CLIENT,
        ) as stack,
    ):
        for _ in range(3):  # warm up connections and imports; not counted
            job_latency(stack.base)
        return [job_latency(stack.base) for _ in range(jobs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    args = parser.parse_args()

    results = {
        name: measure(name, args.jobs, args.database_url, args.redis_url)
        for name in BROKERS
    }
    baseline = statistics.median(results["redis"])
    database = "SQLite" if not args.database_url else args.database_url.split(":")[0]
    print(f"\nJob latency, POST -> SUCCESS, {args.jobs} jobs each, {database}")
    print(f"{'broker':<24}{'median ms':>11}{'p95 ms':>9}{'vs redis':>10}")
    for name, latencies in results.items():
        median = statistics.median(latencies)
        print(
            f"{name:<24}{median * 1000:>11.1f}"
            f"{percentile(latencies, 0.95) * 1000:>9.1f}{median / baseline:>9.2f}x"
        )


if __name__ == "__main__":
    main()
