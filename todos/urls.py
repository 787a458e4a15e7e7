"""The API under /api/v1. Every path answers with and without a trailing slash."""

from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from todos import errors, views

app_name = "api"

urlpatterns = [
    re_path(r"^health/?$", views.HealthView.as_view(), name="health"),
    re_path(r"^todos/?$", views.TodoListView.as_view(), name="todo-list"),
    re_path(
        r"^todos/(?P<todo_id>[0-9]{1,18})/?$",
        views.TodoDetailView.as_view(),
        name="todo-detail",
    ),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(
        r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"
    ),
    # Anything else under the API is a JSON 404, never Django's HTML page.
    re_path(r"^", errors.not_found),
]
