"""Which accounts mode this service runs in (settings.ACCOUNTS), read at each
request so that tests may switch it."""

from django.conf import settings


def accounts_required() -> bool:
    return settings.ACCOUNTS == "required"
