from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        # Registers how the OpenAPI schema describes our authentication.
        from accounts import schema  # noqa: F401
