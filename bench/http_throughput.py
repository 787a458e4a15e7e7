"""HTTP throughput under gunicorn: GET /api/v1/todos and POST /api/v1/todos/ical.

Starts a fresh database holding --todos todos (100) and gunicorn with the
project's config (as `make run` does: --workers processes of --web-threads
threads, the production defaults on a 2-core machine), then drives each
endpoint in turn for --duration seconds from --connections connections on
127.0.0.1 with wrk (Debian's `wrk`, when installed) or, failing that, a load
generator in Python threads, which is slower and says so. Prints requests per
second and latency percentiles. The baseline, in the same run, is
GET /api/v1/health: the least a request through Django, DRF and one database
round trip costs.

POST /api/v1/todos/ical records a job and publishes its message; no worker runs,
so the jobs wait in a queue of this run's own, deleted at the end.

    .venv/bin/python -m bench.http_throughput [--duration 10] [--connections 16]
        [--threads 2] [--workers 2] [--web-threads 8] [--todos 100]
        [--tool auto|wrk|python]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres | sqlite]
        [--broker redis://127.0.0.1:6379 | filesystem] [--conn-max-age 0]
"""

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench import add_stack_options, bench_stack
from tests.support.stack import add_todos


def endpoints(todos: int) -> list[tuple[str, str, str, str | None]]:
    """What to drive, in order: name, method, path, body."""
    return [
        ("GET /api/v1/health (baseline)", "GET", "/api/v1/health", None),
        (f"GET /api/v1/todos ({todos:,} todos)", "GET", "/api/v1/todos", None),
        ("POST /api/v1/todos/ical", "POST", "/api/v1/todos/ical", "{}"),
    ]


WRK_SCRIPT = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "application/json"
{body}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {{"requests": %d, "seconds": %f, "errors": %d, "non_2xx": %d, ' ..
    '"p50_ms": %f, "p90_ms": %f, "p99_ms": %f}}\\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3))
end
"""


def with_wrk(url: str, method: str, body: str | None, args, folder: Path) -> dict:
    script = folder / f"{method.lower()}.lua"
    script.write_text(
        WRK_SCRIPT.format(
            method=method, body=f"wrk.body = {json.dumps(body)}" if body else ""
        )
    )
    result = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}"]
        + [f"-d{args.duration}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=args.duration + 60,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def with_python(url: str, method: str, body: str | None, args) -> dict:
    """--connections threads, each sending one request after another."""
    parts = urlsplit(url)
    deadline = time.perf_counter() + args.duration
    latencies: list[float] = []
    failures = [0, 0]  # errors, non-2xx
    lock = threading.Lock()
    headers = {"Content-Type": "application/json"} if body else {}

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine: list[float] = []
        errors = non_2xx = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                connection.request(method, parts.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                continue
            mine.append(time.perf_counter() - started)
            if not 200 <= response.status < 300:
                non_2xx += 1
        connection.close()
        with lock:
            latencies.extend(mine)
            failures[0] += errors
            failures[1] += non_2xx

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.duration + 30)
    seconds = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "errors": failures[0],
        "non_2xx": failures[1],
        "p50_ms": cuts[49] * 1000,
        "p90_ms": cuts[89] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument(
        "--web-threads", type=int, default=8, help="threads per gunicorn process"
    )
    parser.add_argument("--todos", type=int, default=100)
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    add_stack_options(parser)
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DATABASE_CONN_MAX_AGE of the web server (60, the default); 0 opens "
        "a database connection per request",
    )
    args = parser.parse_args()
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"

    results = {}
    with bench_stack(
        args,
        name="bench-http",
        web_workers=args.workers,
        worker_concurrency=None,  # the jobs wait in the run's own queue
        DATABASE_CONN_MAX_AGE=str(args.conn_max_age),
        WEB_THREADS=str(args.web_threads),
    ) as (stack, folder):
        base = stack.base
        add_todos(stack.env, args.todos)
        if urlsplit(base).hostname != "127.0.0.1":
            raise RuntimeError(f"refusing to load anything but 127.0.0.1: {base}")
        for name, method, path, body in endpoints(args.todos):
            url = f"{base}{path}"
            if tool == "wrk":
                results[name] = with_wrk(url, method, body, args, folder)
            else:
                results[name] = with_python(url, method, body, args)

    vendor = "SQLite" if args.database_url == "sqlite" else "PostgreSQL"
    generator = (
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"
        if tool == "wrk"
        else f"Python threads x{args.connections}, {args.duration} s (slower than wrk)"
    )
    print(
        f"\nHTTP throughput: gunicorn {args.workers} processes x "
        f"{args.web_threads} threads, {vendor} "
        f"(DATABASE_CONN_MAX_AGE={args.conn_max_age}), {generator}, 127.0.0.1"
    )
    print(
        f"{'request':<34}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'vs health':>11}"
    )
    baseline = None
    for name, figures in results.items():
        per_second = figures["requests"] / figures["seconds"]
        baseline = baseline or per_second
        print(
            f"{name:<34}{per_second:>9.0f}{figures['p50_ms']:>9.1f}"
            f"{figures['p90_ms']:>9.1f}{figures['p99_ms']:>9.1f}"
            f"{figures['errors'] + figures['non_2xx']:>8}"
            f"{per_second / baseline:>10.2f}x"
        )
    print("errors: refused, failed or timed-out requests and answers other than 2xx")


if __name__ == "__main__":
    main()
