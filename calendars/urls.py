"""Calendar jobs under /api/v1/todos/ical, and the calendar feed's URL under
/api/v1/calendar/feed, with and without a trailing slash."""

from django.urls import re_path

from calendars import views

app_name = "calendars"

urlpatterns = [
    re_path(r"^todos/ical/?$", views.CalendarExportCreateView.as_view(), name="create"),
    re_path(
        r"^todos/ical/(?P<task_id>[^/]+)/status/?$",
        views.CalendarExportStatusView.as_view(),
        name="status",
    ),
    re_path(
        r"^todos/ical/(?P<task_id>[^/]+)/result/?$",
        views.CalendarExportResultView.as_view(),
        name="result",
    ),
    re_path(r"^calendar/feed/?$", views.CalendarFeedView.as_view(), name="feed"),
    re_path(
        r"^calendar/feed/rotate/?$",
        views.CalendarFeedRotateView.as_view(),
        name="feed-rotate",
    ),
]
