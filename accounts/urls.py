"""Personal access tokens under /api/v1, with and without a trailing slash."""

from django.urls import re_path

from accounts import views

app_name = "tokens"

urlpatterns = [
    re_path(r"^tokens/?$", views.PersonalTokenListView.as_view(), name="list"),
    re_path(
        r"^tokens/(?P<token_id>[0-9a-f]{1,16})/?$",
        views.PersonalTokenDetailView.as_view(),
        name="detail",
    ),
]
