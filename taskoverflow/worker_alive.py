"""The worker's sign of life for its container health check: a file that the
worker's own event loop touches every ALIVE_SECONDS, so that a worker whose loop
is stuck (not only one that exited) turns unhealthy.

`python -m taskoverflow.healthcheck worker` reads it; both find it in the
temporary directory (TMPDIR), the one folder a read-only container may write.
"""

import tempfile
import time
from pathlib import Path

from celery import bootsteps

ALIVE_SECONDS = 10.0
# Three missed touches: the loop is stuck, not merely busy for a moment.
STALE_SECONDS = 3 * ALIVE_SECONDS


def alive_file() -> Path:
    return Path(tempfile.gettempdir()) / "taskoverflow-worker-alive"


def touch() -> None:
    alive_file().touch()


def seconds_since_alive() -> float | None:
    """Seconds since the worker last touched its file; None if it never did."""
    try:
        return time.time() - alive_file().stat().st_mtime
    except FileNotFoundError:
        return None


class AliveFile(bootsteps.StartStopStep):
    """Touches the file from the worker's timer, which its event loop drives."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker) -> None:
        touch()
        self.tref = worker.timer.call_repeatedly(ALIVE_SECONDS, touch)

    def stop(self, worker) -> None:
        if tref := getattr(self, "tref", None):
            tref.cancel()
        alive_file().unlink(missing_ok=True)
