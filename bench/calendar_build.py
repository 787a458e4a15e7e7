"""Calendar build: the streamed writer against one icalendar object per event.

For each size, both writers build the calendar of the same todos and write it to
a file: the stream chunk by chunk (`calendar_chunks`; the worker's twin of it
takes rows whose times the database has written, and is faster still), the
baseline as the one bytes icalendar's `to_ical()` gives (`calendar_ics_reference`,
the way calendars were built before). Every run is a fresh process, so its peak
memory is its own: the growth of its VmHWM over its RSS before the build. The
todos come from a generator, as rows come from the database; time includes
making them. Prints the median of --repeat runs and the baseline's ratio to the
stream, and whether both calendars are the same once unfolded.

    .venv/bin/python -m bench.calendar_build [--sizes 1000 10000 100000] [--repeat 3]
"""

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calendars.ical import (
    TodoEntry,
    calendar_chunks,
    calendar_ics_reference,
)
from tests.support.processes import PROJECT_DIR

WRITERS = ("stream", "objects")
MIB = 1024 * 1024


def sample_todos(count: int) -> Iterator[TodoEntry]:
    """Todos like people write: some long, some with , ; \\ and line breaks."""
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)
    for number in range(1, count + 1):
        yield TodoEntry(
            id=number,
            title=f"Todo {number}: review, sign; file" + " and more" * (number % 12),
            description=None
            if number % 3
            else f"Notes for {number}\nsecond line, with \\ and 🚀",
            completed=number % 2 == 0,
            deadline_at=start + timedelta(minutes=number),
            updated_at=start - timedelta(seconds=number),
        )


def memory_kib(field: str) -> int:
    """A figure of /proc/self/status, in KiB: VmRSS now, VmHWM its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Make VmHWM start again from VmRSS (Linux 4.0+; harmless where refused)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def unfolded_sha256(path: Path) -> str:
    text = path.read_bytes().replace(b"\r\n ", b"")
    return hashlib.sha256(text).hexdigest()


def child(writer: str, size: int) -> None:
    """One build in this process; prints its figures as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "todos.ics"
        reset_peak()
        before = memory_kib("VmRSS")
        started = time.perf_counter()
        with open(path, "wb") as out:
            if writer == "stream":
                for chunk in calendar_chunks(sample_todos(size)):
                    out.write(chunk)
            else:
                out.write(calendar_ics_reference(sample_todos(size)))
        seconds = time.perf_counter() - started
        growth = memory_kib("VmHWM") - before
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "peak_growth_kib": growth,
                    "bytes": path.stat().st_size,
                    "unfolded_sha256": unfolded_sha256(path),
                }
            )
        )


def memory_ratio(baseline_mib: float, stream_mib: float) -> str:
    # A growth under 0.1 MiB is within the noise of resident memory: the ratio
    # is then at least the baseline over 0.1 MiB.
    if stream_mib >= 0.1:
        return f"{baseline_mib / stream_mib:.1f}x"
    return f">{baseline_mib / 0.1:.0f}x"


def run(writer: str, size: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.calendar_build", "--child", writer, str(size)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WRITER", "SIZE"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return

    print(
        "\nCalendar build: streamed writer vs one icalendar object per event "
        f"(baseline); median of {args.repeat} runs, each in a fresh process"
    )
    print(
        f"{'todos':>9}{'stream s':>10}{'stream MiB':>12}{'objects s':>11}"
        f"{'objects MiB':>13}{'time ratio':>12}{'memory ratio':>14}{'same':>6}"
    )
    for size in args.sizes:
        figures = {
            writer: [run(writer, size) for _ in range(args.repeat)]
            for writer in WRITERS
        }
        seconds = {
            writer: statistics.median(run["seconds"] for run in runs)
            for writer, runs in figures.items()
        }
        peak = {
            writer: statistics.median(run["peak_growth_kib"] for run in runs) / 1024
            for writer, runs in figures.items()
        }
        same = len(
            {run["unfolded_sha256"] for runs in figures.values() for run in runs}
        )
        print(
            f"{size:>9,}{seconds['stream']:>10.3f}{peak['stream']:>12.1f}"
            f"{seconds['objects']:>11.3f}{peak['objects']:>13.1f}"
            f"{seconds['objects'] / seconds['stream']:>11.1f}x"
            f"{memory_ratio(peak['objects'], peak['stream']):>14}"
            f"{'yes' if same == 1 else 'NO':>6}"
        )
    print(
        "MiB: growth of the process's peak resident memory (VmHWM) during the "
        "build; same: both calendars are identical once unfolded"
    )


if __name__ == "__main__":
    main()
