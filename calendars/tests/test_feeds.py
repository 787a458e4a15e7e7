"""The calendar feed: coalesced builds, an atomic swap of its file, the last
good file kept when a build fails, rotation, conditional GETs, stable UIDs."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.files.storage import default_storage

from calendars import feeds
from calendars.feeds import (
    calendar_feed_build,
    calendar_feed_of,
    calendar_feed_refresh,
    feed_wait_seconds,
)
from calendars.ical import todo_uid
from calendars.models import CalendarFeed
from todos.models import Todo

pytestmark = pytest.mark.django_db
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def sent(monkeypatch) -> list:
    """The build messages sent, instead of sending them."""
    messages = []
    monkeypatch.setattr(
        feeds.current_app, "send_task", lambda *a, **k: messages.append((a, k))
    )
    return messages


@pytest.fixture
def feed(sent, django_capture_on_commit_callbacks) -> CalendarFeed:
    with django_capture_on_commit_callbacks(execute=True):
        return calendar_feed_of(owner_id=None)


def feed_url(api) -> str:
    return (
        api.get("/api/v1/calendar/feed").json()["url"].removeprefix("http://testserver")
    )


def refresh(feed: CalendarFeed) -> str:
    """The worker's task, without its waits."""
    return calendar_feed_refresh(feed_id=feed.pk, sleep=lambda seconds: None)


def test_the_wait_is_a_quiet_moment_bounded_by_the_first_change(settings):
    settings.FEED_QUIET_SECONDS = 0.5
    settings.FEED_MAX_WAIT_SECONDS = 10
    wait = feed_wait_seconds
    assert wait(pending_since=T0, changed_at=T0, now=T0) == 0.5
    assert wait(pending_since=T0, changed_at=T0, now=T0 + timedelta(seconds=1)) == 0
    # Changes every 0.1 s for ever: built 10 s after the first all the same.
    late = T0 + timedelta(seconds=9.9)
    assert wait(pending_since=T0, changed_at=late, now=late) == pytest.approx(0.1)


def test_a_burst_of_changes_sends_one_message_and_makes_one_build(
    feed, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(1000):
            Todo.objects.create(title=f"t{n}", deadline_at=T0)
    assert len(sent) == 1  # the feed's first build, which the burst joins
    assert refresh(feed) == "built"
    feed.refresh_from_db()
    assert (feed.builds, feed.event_count) == (1, 1000)
    assert feed.task_sent_at is None and feed.pending_since is None
    # The next change asks again.
    with django_capture_on_commit_callbacks(execute=True):
        Todo.objects.create(title="one more", deadline_at=T0)
    assert len(sent) == 2
    assert refresh(feed) == "built"
    assert refresh(feed) == "current"  # a second message has nothing to do


def test_a_change_during_a_build_is_built_by_the_next_task(feed, sent, monkeypatch):
    real_build = feeds.calendar_feed_build

    def build_while_changing(*, feed):
        built = real_build(feed=feed)
        Todo.objects.create(title="during", deadline_at=T0)
        return built

    monkeypatch.setattr(feeds, "calendar_feed_build", build_while_changing)
    assert refresh(feed) == "built, more pending"
    assert len(sent) == 2  # handed over, claim kept
    monkeypatch.setattr(feeds, "calendar_feed_build", real_build)
    assert refresh(feed) == "built"
    feed.refresh_from_db()
    assert feed.built_version == feed.version and feed.event_count == 1


def test_the_file_is_swapped_and_the_old_one_deleted(feed, make_todo):
    make_todo(title="first", deadline_at=T0)
    first = calendar_feed_build(feed=feed).file
    make_todo(title="second", deadline_at=T0)
    second = calendar_feed_build(feed=feed).file
    assert first != second and first.startswith(f"feeds/{feed.pk}/")
    assert default_storage.exists(second) and not default_storage.exists(first)


def test_a_failed_build_keeps_the_last_good_file_served(feed, make_todo, api):
    make_todo(title="kept", deadline_at=T0)
    refresh(feed)
    make_todo(title="never", deadline_at=T0)
    with mock.patch.object(feeds, "calendar_row_chunks", side_effect=RuntimeError):
        with pytest.raises(RuntimeError):
            refresh(feed)
    feed.refresh_from_db()
    assert feed.task_sent_at is None  # the next change asks again
    body = b"".join(api.get(feed_url(api)).streaming_content)
    assert b"SUMMARY:kept" in body and b"never" not in body


def test_before_the_first_build_the_feed_answers_503_with_retry_after(feed, api):
    response = api.get(feed_url(api))
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]


def test_the_feed_answers_conditional_requests_with_304(feed, make_todo, api):
    make_todo(title="a", deadline_at=T0)
    refresh(feed)
    url = feed_url(api)
    response = api.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, no-cache"
    body = b"".join(response.streaming_content)
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n" in body
    assert b"X-PUBLISHED-TTL:PT15M\r\n" in body
    etag, modified = response["ETag"], response["Last-Modified"]
    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api.get(url, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    assert api.head(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_uids_stay_and_a_deleted_todo_goes(feed, make_todo, api):
    kept = make_todo(title="kept", deadline_at=T0)
    gone = make_todo(title="gone", deadline_at=T0)
    refresh(feed)
    before = b"".join(api.get(feed_url(api)).streaming_content)
    gone_uid = f"UID:{todo_uid(gone.pk)}".encode()
    gone.delete()
    kept.title = "renamed"
    kept.save()
    refresh(feed)
    after = b"".join(api.get(feed_url(api)).streaming_content)
    uid = f"UID:{todo_uid(kept.pk)}".encode()
    assert uid in before and uid in after and b"renamed" in after
    assert gone_uid in before and gone_uid not in after


def test_rotating_makes_the_old_url_404_at_once(feed, make_todo, api):
    make_todo(title="a", deadline_at=T0)
    refresh(feed)
    old = feed_url(api)
    rotated = api.post("/api/v1/calendar/feed/rotate").json()
    assert rotated["url"].startswith("http://testserver/calendar/feed/")
    assert rotated["webcal"] == "webcal://" + rotated["url"].removeprefix("http://")
    assert api.get(old).status_code == 404
    assert api.get(rotated["url"]).status_code == 200


def test_the_feed_holds_only_its_owners_todos(sent, django_user_model, make_todo):
    alice = django_user_model.objects.create_user("alice")
    make_todo(title="shared", deadline_at=T0)
    make_todo(title="alice's", deadline_at=T0, owner=alice)
    built = calendar_feed_build(feed=calendar_feed_of(owner_id=alice.pk))
    body = default_storage.open(built.file).read()
    assert b"alice's" in body and b"shared" not in body


def test_a_queue_that_is_down_does_not_fail_the_change(feed, monkeypatch, make_todo):
    refresh(feed)
    monkeypatch.setattr(
        feeds.current_app, "send_task", mock.Mock(side_effect=OSError("down"))
    )
    assert feeds.calendar_feed_enqueue(feed_id=feed.pk) is False
    feed.refresh_from_db()
    assert feed.task_sent_at is None


# --- The API's writes: each counts its change once, in its own statement on
# PostgreSQL (count_change_along), in its transaction elsewhere.


def test_a_write_through_the_api_counts_one_change_and_asks_for_a_build_once_committed(  # noqa: E501
    feed, sent, api, django_capture_on_commit_callbacks
):
    refresh(feed)  # the first build is done: none is under way
    feed.refresh_from_db()
    before, messages = feed.version, len(sent)

    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/todos", {"title": "new"}, format="json")
    feed.refresh_from_db()
    assert created.status_code == 201
    assert feed.version == before + 1
    assert len(sent) == messages + 1

    with django_capture_on_commit_callbacks(execute=True):
        changed = api.put(
            f"/api/v1/todos/{created.json()['id']}", {"title": "b"}, format="json"
        )
    feed.refresh_from_db()
    assert changed.status_code == 200
    assert feed.version == before + 2
    assert len(sent) == messages + 1  # a build is under way: no second message


def test_a_write_that_finds_no_todo_counts_no_change(feed, api):
    feed.refresh_from_db()
    before = feed.version

    response = api.put("/api/v1/todos/999999", {"title": "x"}, format="json")

    feed.refresh_from_db()
    assert response.status_code == 404
    assert feed.version == before
