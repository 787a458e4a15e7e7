"""A calendar feed's lifecycle: made when its owner first asks for its URL,
told of every change to the owner's todos, rebuilt by a worker once the
changes pause, served from the last good file, its secret rotated.

Coalescing: a change counts itself (`version`) and, once committed, asks for a
build only when none is under way (`task_sent_at`, claimed by one conditional
UPDATE); the task waits for FEED_QUIET_SECONDS without change, at most
FEED_MAX_WAIT_SECONDS after the first pending one, builds, and lets go of the
claim only when no change came meanwhile. A burst of a thousand changes thus
sends one or two messages and makes one or two builds.

The file is named by its content (feeds/<feed id>/<sha256>.ics) and swapped in
by one UPDATE of the row; the old file is deleted after. A build that fails
changes nothing, so the last good file stays served.
"""

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from functools import cache

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.owners import owned_by
from api.compiled import Along
from calendars.ical import calendar_row_chunks
from calendars.models import CalendarFeed, new_feed_secret
from calendars.selectors import CountedRows, calendar_rows, calendar_snapshot
from calendars.storage import calendar_file_store, calendar_spool

logger = logging.getLogger(__name__)

FEED_TASK = "feed"
FOLDER = "feeds"
# What the calendar asks subscribed apps: fetch again every 15 minutes.
REFRESH_INTERVAL = "PT15M"


def feeds_of(owner_id: int | None) -> QuerySet[CalendarFeed]:
    """The owner's feed, as a queryset of at most one; None: the shared list's."""
    return owned_by(CalendarFeed.objects.all(), owner_id)


def calendar_feed_of(*, owner_id: int | None) -> CalendarFeed:
    """The owner's feed; made, with its first build asked for, if there is none."""
    feed = feeds_of(owner_id).first()
    if feed is not None:
        return feed
    now = timezone.now()
    try:
        with transaction.atomic():
            feed = CalendarFeed.objects.create(
                owner_id=owner_id, version=1, pending_since=now, changed_at=now
            )
    except IntegrityError:  # another request made it first
        return feeds_of(owner_id).get()
    transaction.on_commit(lambda: calendar_feed_enqueue(feed_id=feed.pk))
    return feed


def calendar_feed_rotate(*, owner_id: int | None) -> CalendarFeed:
    """A new secret for the owner's feed: the old URL answers 404 at once."""
    feed = calendar_feed_of(owner_id=owner_id)
    feed.secret = new_feed_secret()
    CalendarFeed.objects.filter(pk=feed.pk).update(secret=feed.secret)
    return feed


def calendar_feed_by_secret(secret: str) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(secret=secret).first()


def calendar_feed_touch(*, owner_id: int | None) -> None:
    """A todo of the owner's changed: count the change in their feed (if they
    have one) and, once it is committed, ask for a build."""
    if _count_change(owner_id=owner_id, now=timezone.now()):
        transaction.on_commit(lambda: _enqueue_owner(owner_id))


def _count_change(*, owner_id: int | None, now: datetime) -> int:
    """feeds_of(owner_id).update(version=F("version") + 1, changed_at=now,
    pending_since=Coalesce(F("pending_since"), Value(now))), written out once:
    every write of a todo runs it, and the ORM's compile of that UPDATE took
    a seventh of a todo POST's CPU (docs/benchmarks.md). Returns the rows
    changed: 0 or 1."""
    connection = connections[router.db_for_write(CalendarFeed)]
    with connection.cursor() as cursor:
        cursor.execute(*_count_change_statement(connection.alias, owner_id, now))
        return cursor.rowcount


def _count_change_statement(
    alias: str, owner_id: int | None, now: datetime
) -> tuple[str, list]:
    """_count_change's UPDATE and its parameters."""
    when = connections[alias].ops.adapt_datetimefield_value(now)
    params = [when, when] + ([] if owner_id is None else [owner_id])
    return _count_change_sql(alias, shared=owner_id is None), params


@cache
def _count_change_sql(alias: str, *, shared: bool) -> str:
    quote = connections[alias].ops.quote_name
    column = {
        name: quote(CalendarFeed._meta.get_field(name).column)
        for name in ("owner", "version", "changed_at", "pending_since")
    }
    return (
        f"UPDATE {quote(CalendarFeed._meta.db_table)} SET "
        f"{column['version']} = {column['version']} + 1, "
        f"{column['changed_at']} = %s, "
        f"{column['pending_since']} = COALESCE({column['pending_since']}, %s) "
        f"WHERE {column['owner']} " + ("IS NULL" if shared else "= %s")
    )


def _enqueue_owner(owner_id: int | None) -> None:
    feed_id = feeds_of(owner_id).values_list("pk", flat=True).first()
    if feed_id is not None:
        calendar_feed_enqueue(feed_id=feed_id)


def calendar_feed_enqueue(*, feed_id: int, force: bool = False) -> bool:
    """Send the feed's build message, unless one is under way (`force`: the
    task under way hands over to a new one). Never raises: a change to a todo
    must not fail because the queue is down; the next change asks again."""
    now = timezone.now()
    feeds = CalendarFeed.objects.filter(pk=feed_id)
    if not force:
        # A claim older than any task may run belongs to a worker that died.
        stale = now - timedelta(
            seconds=settings.ICAL_TIME_LIMIT + settings.FEED_MAX_WAIT_SECONDS
        )
        feeds = feeds.filter(Q(task_sent_at__isnull=True) | Q(task_sent_at__lt=stale))
    if not feeds.update(task_sent_at=now):
        return False
    options = {}
    if settings.CELERY_TASK_DEFAULT_QUEUE.endswith(".fifo"):
        # One group per feed; each send its own deduplication id (see jobs.py).
        options["MessageGroupId"] = f"feed-{feed_id}"
        options["MessageDeduplicationId"] = f"feed-{feed_id}-{now.timestamp()}"
    try:
        current_app.send_task(FEED_TASK, args=[feed_id], **options)
    except Exception:
        logger.exception("could not queue the build of calendar feed %s", feed_id)
        CalendarFeed.objects.filter(pk=feed_id, task_sent_at=now).update(
            task_sent_at=None
        )
        return False
    return True


def feed_wait_seconds(
    *, pending_since: datetime, changed_at: datetime, now: datetime
) -> float:
    """How long to wait before building: until FEED_QUIET_SECONDS have passed
    since the latest change, but no later than FEED_MAX_WAIT_SECONDS after the
    first one not yet built."""
    quiet = changed_at + timedelta(seconds=settings.FEED_QUIET_SECONDS)
    latest = pending_since + timedelta(seconds=settings.FEED_MAX_WAIT_SECONDS)
    return max(0.0, (min(quiet, latest) - now).total_seconds())


def calendar_feed_refresh(
    *,
    feed_id: int,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = timezone.now,
) -> str:
    """The worker's part: wait for the changes to pause, build, and let go of
    the feed's claim once nothing is pending. What happened, in a word.

    After one build with changes still pending (they came during it), a new
    message takes over: a feed that never stops changing is rebuilt every
    FEED_MAX_WAIT_SECONDS, by tasks that each end.
    """
    built = False
    while True:
        feed = CalendarFeed.objects.filter(pk=feed_id).first()
        if feed is None:
            return "gone"
        if feed.built_version >= feed.version:
            # Let go only if no change came since the read above; if one did,
            # it found the claim taken and relies on this task.
            if CalendarFeed.objects.filter(pk=feed_id, version=feed.version).update(
                task_sent_at=None
            ):
                return "built" if built else "current"
            continue
        if built:
            calendar_feed_enqueue(feed_id=feed_id, force=True)
            return "built, more pending"
        wait = feed_wait_seconds(
            pending_since=feed.pending_since or clock(),
            changed_at=feed.changed_at or clock(),
            now=clock(),
        )
        if wait > 0:
            sleep(wait)
            continue
        try:
            calendar_feed_build(feed=feed)
        except Exception:
            # The last good file stays served; the next change asks again.
            CalendarFeed.objects.filter(pk=feed_id).update(task_sent_at=None)
            raise
        built = True


def feed_file_name(feed: CalendarFeed, sha256: str) -> str:
    return f"{FOLDER}/{feed.pk}/{sha256}.ics"


def calendar_feed_build(*, feed: CalendarFeed) -> CalendarFeed:
    """Build the owner's whole calendar, store it under its content's name and
    swap it in; then delete the file it replaced."""
    started_at = timezone.now()
    with ExitStack() as spooled_files:
        with calendar_snapshot():
            # The count read in the same snapshot as the todos: every change it
            # counts is in them (a change is counted after its todo is written).
            version = feeds_of(feed.owner_id).values_list("version", flat=True).get()
            rows = CountedRows(
                calendar_rows(
                    completed=None,
                    window=None,
                    requested_at=started_at,
                    owner=feed.owner_id,
                )
            )
            spool = spooled_files.enter_context(
                calendar_spool(calendar_row_chunks(rows, refresh=REFRESH_INTERVAL))
            )
        name = feed_file_name(feed, spool.sha256)
        calendar_file_store(spool, name=name)
    with transaction.atomic():
        current = CalendarFeed.objects.select_for_update().get(pk=feed.pk)
        replaced = current.file
        changed = current.sha256 != spool.sha256
        CalendarFeed.objects.filter(pk=feed.pk).update(
            file=name,
            sha256=spool.sha256,
            event_count=rows.count,
            # Last-Modified moves only when the content does.
            built_at=started_at if changed else current.built_at,
            built_version=version,
            # Changes during the build wait from its start, not from before.
            pending_since=None if current.version <= version else started_at,
            builds=F("builds") + 1,
        )
    if replaced and replaced != name:
        default_storage.delete(replaced)
    logger.info(
        "calendar feed %s built: %d events, version %d", feed.pk, rows.count, version
    )
    feed.refresh_from_db()
    return feed


def todo_changed(sender, instance, written_along: bool = False, **kwargs) -> None:
    """post_save and post_delete of a todo: its owner's feed is out of date.
    A save whose statement counted the change already (written_along, see
    count_change_along) is not counted again."""
    if not written_along:
        calendar_feed_touch(owner_id=instance.owner_id)


def count_change_along(sender, *, owner_id: int | None, using: str, **kwargs) -> Along:
    """todo_write_along: the owner's feed counts the change in the todo's own
    statement (calendar_feed_touch's count, the same UPDATE), and asks for a
    build once that statement is committed."""
    sql, params = _count_change_statement(using, owner_id, timezone.now())

    def counted(rows: int) -> None:
        if rows:
            transaction.on_commit(lambda: _enqueue_owner(owner_id), using=using)

    return Along(sql=sql, params=tuple(params), counted=counted)
