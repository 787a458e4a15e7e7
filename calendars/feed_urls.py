"""The calendar feed calendar apps subscribe to, at /calendar/feed/<secret>.ics."""

from django.urls import re_path

from calendars import views

app_name = "feeds"

urlpatterns = [
    re_path(
        r"^feed/(?P<secret>[A-Za-z0-9_-]{20,64})\.ics$",
        views.calendar_feed_file,
        name="file",
    ),
]
