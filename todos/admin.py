from django.contrib import admin

from todos.models import Todo


@admin.register(Todo)
class TodoAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "completed", "deadline_at", "updated_at"]
    list_filter = ["completed", "deadline_at", "owner"]
    search_fields = ["title"]
    date_hierarchy = "deadline_at"
    readonly_fields = ["created_at", "updated_at"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
