"""The worker's housekeeping thread: sends again the jobs that sat unfinished past
their time limit, and deletes expired jobs with their files.

It runs in every worker process, started when the worker is ready and stopped
when it shuts down (hooked up in calendars/tasks.py, with the reason it is not
Celery beat); what it calls is safe to run from many workers at once.
"""

import logging
import threading
import time

from celery import current_app
from django.conf import settings
from django.db import connection

from calendars.jobs import calendar_exports_expire, calendar_exports_resend_stale

logger = logging.getLogger(__name__)
EXPIRY_EVERY_SECONDS = 3600
_stop = threading.Event()


def sweep(*, expire: bool) -> None:
    """One pass; errors are logged, never raised: the next pass tries again."""
    try:
        resent = calendar_exports_resend_stale()
        if resent:
            logger.warning("sent %d stale calendar jobs again", resent)
        if expire:
            expired = calendar_exports_expire()
            if expired:
                logger.info("deleted %d expired calendar jobs", expired)
            current_app.backend.cleanup()  # Celery's own expired task results
    except Exception:
        logger.exception("calendar sweep failed")
    finally:
        connection.close()  # this thread's own connection; reopened next pass


def run(interval: float, stopped: threading.Event) -> None:
    """Sweep every `interval` seconds, and expire hourly, until `stopped` is set."""
    last_expiry = float("-inf")
    while not stopped.is_set():
        expire = time.monotonic() - last_expiry >= EXPIRY_EVERY_SECONDS
        sweep(expire=expire)
        if expire:
            last_expiry = time.monotonic()
        stopped.wait(interval)


def start(**kwargs) -> None:
    """Start the sweep thread (a worker_ready receiver); ICAL_SWEEP_INTERVAL 0: none."""
    interval = settings.ICAL_SWEEP_INTERVAL
    if interval <= 0:
        return
    _stop.clear()
    threading.Thread(
        target=run, args=(interval, _stop), name="calendar-sweeper", daemon=True
    ).start()
    logger.info("calendar sweeper started, every %s s", interval)


def stop(**kwargs) -> None:
    """Stop the sweep thread after its pass (a worker_shutting_down receiver)."""
    _stop.set()
