from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before the todo API, whose catch-all answers 404 to any URL it does not know.
    path("api/v1/", include("calendars.urls")),
    path("api/v1/", include("todos.urls")),
    path("api/v1", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    # The page people use; it works through the same /api/v1 as programs.
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
]

handler400 = "todos.errors.bad_request"
handler404 = "todos.errors.not_found"
handler500 = "todos.errors.server_error"
