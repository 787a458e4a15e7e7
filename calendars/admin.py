from django.contrib import admin

from calendars.models import CalendarExport


@admin.register(CalendarExport)
class CalendarExportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "status",
        "event_count",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "created_at", "owner"]
    list_select_related = ["owner"]
    search_fields = ["id"]
    readonly_fields = [field.name for field in CalendarExport._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are made through the API, which also queues them
