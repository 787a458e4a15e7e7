from django.contrib import admin

from calendars.models import CalendarExport, CalendarFeed


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


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Feeds are made and rebuilt by the service; admins look, or delete one
    (its owner's next request makes a new one, at a new address)."""

    list_display = ["owner", "built_at", "event_count", "builds", "version"]
    list_select_related = ["owner"]
    exclude = ["secret"]  # the address is its owner's to share
    readonly_fields = [
        field.name for field in CalendarFeed._meta.fields if field.name != "secret"
    ]

    def has_add_permission(self, request) -> bool:
        return False
