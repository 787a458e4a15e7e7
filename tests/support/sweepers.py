"""Sweepers racing each other, for the test that two never both claim a job.

Run in a process of its own against PostgreSQL (tests call it through
django_run): each sweeper is a thread with its own connection, and every one
has read the same stale jobs before any claims one, the worst interleaving.
"""

import threading
from datetime import timedelta
from unittest import mock

from django.db import connection
from django.utils import timezone

from calendars import jobs
from calendars.models import CalendarExport


def concurrent_sweeps(*, stale_jobs: int, sweepers: int) -> int:
    """How many messages the sweepers sent in all for `stale_jobs` stale jobs."""
    old = timezone.now() - timedelta(hours=1)
    for _ in range(stale_jobs):
        export = CalendarExport.objects.create(status="STARTED", sends=1)
        CalendarExport.objects.filter(pk=export.pk).update(
            updated_at=old, heartbeat_at=old
        )
    all_have_read = threading.Barrier(sweepers, timeout=30)
    stale = jobs.calendar_exports_stale
    sends: list[str] = []

    def read_then_wait(**kwargs) -> list[CalendarExport]:
        found = list(stale(**kwargs))
        all_have_read.wait()
        return found

    def sweeper() -> None:
        try:
            jobs.calendar_exports_resend_stale()
        finally:
            connection.close()

    with (
        mock.patch.object(jobs, "calendar_exports_stale", read_then_wait),
        mock.patch.object(
            jobs.current_app, "send_task", lambda name, args, **kw: sends.append(args)
        ),
    ):
        threads = [threading.Thread(target=sweeper) for _ in range(sweepers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    return len(sends)
