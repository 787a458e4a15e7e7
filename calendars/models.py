import secrets
import uuid

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from accounts.owners import owner_field


class CalendarExport(models.Model):
    """A request for a calendar of todos: a job of our own, whose id is the task id.

    The row is written before the message is sent, so the API can tell a queued
    job from one that never existed (Celery reports every unknown id as PENDING).
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        STARTED = "STARTED"
        RETRY = "RETRY"
        SUCCESS = "SUCCESS"
        FAILURE = "FAILURE"

    FINISHED = (Status.SUCCESS, Status.FAILURE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # The filters, as GET /api/v1/todos takes them; null means "not filtered".
    completed = models.BooleanField(null=True, blank=True)
    window = models.PositiveIntegerField(null=True, blank=True)
    # calendars/<sha256>.ics: named by its content, so jobs whose calendars are
    # identical share one file (deleted once no job points at it).
    file = models.FileField(upload_to="calendars/", blank=True)
    event_count = models.PositiveIntegerField(null=True, blank=True)
    # Taken while the file is written, so serving it needs no second read.
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField("SHA-256 of the file", max_length=64, blank=True)
    # When the todos in its calendar were read: after the request, by this
    # job's worker or by the job whose calendar it reuses.
    read_at = models.DateTimeField(null=True, blank=True)
    # Who asked, as a keyed hash of the address (api.throttling.client_key):
    # a client's unfinished jobs are capped.
    client = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # Whose todos it holds, and who may see it.
    owner = owner_field(related_name="calendar_exports")
    # How many times the job's message was sent: the sweep sends again the jobs
    # that sat unfinished past their time limit, up to a bound.
    sends = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written every few seconds while a worker builds the job: a STARTED job
    # whose heartbeat stopped has lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "updated_at"]),
            models.Index(fields=["status", "finished_at"]),
            models.Index(fields=["client", "status"]),
            models.Index(fields=["file"]),
            # A job's donor (selectors.calendar_export_donor) is the newest
            # calendar read after the job was asked for: read backwards from
            # there, a few rows, not every finished job.
            models.Index(fields=["read_at"]),
        ]

    def __str__(self) -> str:
        return f"Calendar export {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def etag(self) -> str | None:
        """A strong ETag of the stored calendar: its SHA-256, once it is built."""
        return f'"{self.sha256}"' if self.sha256 else None


def new_feed_secret() -> str:
    """256 random bits: the feed URL is its only key (calendar apps cannot log in)."""
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """The calendar of one owner's todos at a secret URL that calendar apps
    subscribe to; rebuilt by a worker after the todos change (calendars/feeds.py).

    `version` counts the changes to the todos; `built_version` is the count the
    stored file covers. The owner is null for the shared list of ACCOUNTS=open:
    one such row (the constraint below).
    """

    owner = owner_field(related_name="calendar_feed", one_per_owner=True)
    secret = models.CharField(max_length=64, unique=True, default=new_feed_secret)
    version = models.PositiveBigIntegerField(default=0)
    built_version = models.PositiveBigIntegerField(default=0)
    # The first change the file does not hold yet, and the latest change: the
    # worker waits for a quiet moment, but never long after the first.
    pending_since = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    # When a build was asked of a worker (null: none is under way); one at a
    # time per feed, however many changes arrive meanwhile.
    task_sent_at = models.DateTimeField(null=True, blank=True)
    # The stored file: feeds/<id>/<sha256>.ics, swapped in by one UPDATE.
    file = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField("SHA-256 of the file", max_length=64, blank=True)
    event_count = models.PositiveIntegerField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    builds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # OneToOne allows any number of nulls: the shared feed is one.
            models.UniqueConstraint(
                Coalesce("owner", Value(0)), name="calendar_feed_one_per_owner"
            )
        ]

    def __str__(self) -> str:
        return f"Calendar feed of {self.owner or 'the shared list'}"

    @property
    def etag(self) -> str | None:
        return f'"{self.sha256}"' if self.sha256 else None
