from django.contrib import admin

from todos.models import Todo


@admin.register(Todo)
class TodoAdmin(admin.ModelAdmin):
    list_display = ["title", "completed", "deadline_at", "updated_at"]
    list_filter = ["completed", "deadline_at"]
    search_fields = ["title"]
    date_hierarchy = "deadline_at"
    readonly_fields = ["created_at", "updated_at"]
