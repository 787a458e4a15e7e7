"""Benchmarks are not tests; this only proves each script still runs, at a tiny size.

The stack benchmarks run on the database the suite runs on (PostgreSQL in CI)
and on the machine's Redis, as the benchmarks do by default.
"""

import os
import subprocess
import sys

import pytest

from tests.support.processes import PROJECT_DIR, project_env
from tests.support.services import REDIS_URL, require, tool_on_path

DATABASE = os.environ.get("DATABASE_URL") or "sqlite"


def run_bench(*args: str) -> list[str]:
    """Run a bench script; the last lines it printed, its table."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def test_job_latency_bench_prints_its_table(shared_redis):
    rows = run_bench("-m", "bench.job_latency", "--jobs", "1")[-3:]
    assert [row.split()[0] for row in rows] == ["embedded", "redis", "sqs"]
    assert rows[1].endswith("1.00x")


def test_calendar_build_bench_prints_its_table():
    rows = run_bench(
        "-m", "bench.calendar_build", "--sizes", "30", "60", "--repeat", "1"
    )
    header, small, large, note = rows[-4:]
    assert header.split()[:3] == ["todos", "stream", "s"]
    assert [small.split()[0], large.split()[0]] == ["30", "60"]
    assert small.endswith("yes") and large.endswith("yes"), "the same calendars"
    assert note.startswith("MiB:")


def test_calendar_job_bench_prints_its_table(shared_redis):
    rows = run_bench(
        "-m",
        "bench.calendar_job",
        *("--sizes", "20", "50", "--jobs", "1"),
        *("--database-url", DATABASE, "--broker", REDIS_URL),
    )
    small, large, note = rows[-3:]
    assert small.split()[0] == "20" and small.split()[4] == "20"
    assert large.split()[0] == "50" and large.split()[4] == "50"
    assert "1.0x" in small and small.endswith("met")
    assert note.endswith("304 on If-None-Match with the ETag: every job")


@pytest.mark.parametrize("tool", ["wrk", "python"])
def test_http_throughput_bench_prints_its_table(shared_redis, tool):
    if tool == "wrk":
        require("wrk", tool_on_path("wrk"), "PATH (apt-get install wrk)")
    rows = run_bench(
        "-m",
        "bench.http_throughput",
        *("--duration", "1", "--connections", "2", "--threads", "1"),
        *("--tool", tool, "--database-url", DATABASE, "--broker", REDIS_URL),
    )
    health, todos, ical, _ = rows[-4:]
    assert health.startswith("GET /api/v1/health") and health.endswith("1.00x")
    assert todos.startswith("GET /api/v1/todos") and ical.startswith("POST")
    for row in (health, todos, ical):
        assert float(row.split()[-6]) > 0, row  # requests per second
        assert row.split()[-2] == "0", f"errors: {row}"


def test_feed_build_bench_prints_its_figures():
    rows = run_bench(
        "-m",
        "bench.feed_build",
        *("--todos", "40", "--rounds", "1"),
        *("--database-url", DATABASE, "--broker", REDIS_URL),
    )
    title, build, fresh = rows[-3:]
    assert title.startswith("feed of 40 todos (40 events")
    assert build.split()[:2] == ["build", "alone:"]
    assert fresh.split()[:4] == ["change", "->", "feed", "current:"]
