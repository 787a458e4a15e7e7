"""What /api/v1 shares; included last, since its catch-all answers every URL
that no app before it claimed. Paths answer with and without a trailing slash."""

from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from api import errors, views

app_name = "api"

urlpatterns = [
    re_path(r"^health/?$", views.HealthView.as_view(), name="health"),
    # The description of the API is public, so that Swagger UI can load before
    # anyone authorizes; it holds no one's data.
    re_path(
        r"^schema/?$",
        SpectacularAPIView.as_view(permission_classes=[AllowAny]),
        name="schema",
    ),
    re_path(
        r"^docs/?$",
        SpectacularSwaggerView.as_view(
            url_name="api:schema", permission_classes=[AllowAny]
        ),
        name="docs",
    ),
    # Anything else under the API is a JSON 404, never Django's HTML page.
    re_path(r"^", errors.not_found),
]
