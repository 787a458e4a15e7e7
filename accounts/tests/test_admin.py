"""Admins see everyone's things, by owner, and tokens but never their text."""

import pytest

from accounts.services import personal_token_create
from calendars.feeds import calendar_feed_of
from todos.models import Todo

pytestmark = pytest.mark.django_db


def test_admins_see_owners_tokens_and_feeds_but_no_secret(admin_client, alice):
    Todo.objects.create(title="Alice's todo", owner=alice)
    _, text = personal_token_create(user=alice, name="laptop")
    feed = calendar_feed_of(owner_id=alice.pk)

    todos = admin_client.get(f"/admin/todos/todo/?owner__id__exact={alice.pk}")
    assert "Alice&#x27;s todo" in todos.content.decode()
    tokens = admin_client.get("/admin/accounts/personaltoken/").content.decode()
    assert "laptop" in tokens and text not in tokens
    feeds = admin_client.get("/admin/calendars/calendarfeed/")
    assert feeds.status_code == 200
    detail = admin_client.get(f"/admin/calendars/calendarfeed/{feed.pk}/change/")
    assert detail.status_code == 200 and feed.secret not in detail.content.decode()
