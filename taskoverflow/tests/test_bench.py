"""Benchmarks are not tests; this only proves each script still runs, at a tiny size."""

import subprocess
import sys

from taskoverflow.testing import PROJECT_DIR, project_env


def test_job_latency_bench_prints_its_table():
    result = subprocess.run(
        [sys.executable, "bench/job_latency.py", "--jobs", "1"],
        cwd=PROJECT_DIR,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = result.stdout.strip().splitlines()[-3:]
    assert [row.split()[0] for row in rows] == ["embedded", "redis", "sqs"]
    assert rows[1].endswith("1.00x")
