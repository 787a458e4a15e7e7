from django.contrib import admin

from accounts.models import PersonalToken


@admin.register(PersonalToken)
class PersonalTokenAdmin(admin.ModelAdmin):
    """Admins see and revoke (delete) tokens; never their text, which is not kept."""

    list_display = ["name", "user", "public_id", "created", "expiry"]
    list_filter = ["created", "expiry"]
    search_fields = ["name", "user__username", "public_id"]
    fields = ["name", "user", "public_id", "created", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # made on the page, through the API or with createtoken
