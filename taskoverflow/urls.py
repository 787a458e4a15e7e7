from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("todos.urls")),
    path("api/v1/", include("calendars.urls")),
    # Last under /api/v1: what every endpoint shares, and the JSON 404 for any
    # URL the apps above did not claim.
    path("api/v1/", include("api.urls")),
    path("api/v1", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    # The page people use; it works through the same /api/v1 as programs.
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
]

handler400 = "api.errors.bad_request"
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"
