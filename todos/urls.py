"""The todo API under /api/v1. Every path answers with and without a trailing slash."""

from django.urls import re_path

from todos import views

app_name = "todos"

urlpatterns = [
    re_path(r"^todos/?$", views.TodoListView.as_view(), name="list"),
    re_path(
        r"^todos/(?P<todo_id>[0-9]{1,18})/?$",
        views.TodoDetailView.as_view(),
        name="detail",
    ),
]
