from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("todos.urls")),
    path("api/v1/", include("calendars.urls")),
    path("api/v1/", include("accounts.urls")),
    # Last under /api/v1: what every endpoint shares, and the JSON 404 for any
    # URL the apps above did not claim.
    path("api/v1/", include("api.urls")),
    path("api/v1", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    # The calendar feed calendar apps subscribe to, by its secret URL.
    path("calendar/", include("calendars.feed_urls")),
    # The page people use, and signing in to it; it works through the same
    # /api/v1 as programs.
    path("", include("accounts.page_urls")),
]

handler400 = "api.errors.bad_request"
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"
