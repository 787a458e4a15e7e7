"""Whose todos, jobs and feed a request works on."""

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from accounts.modes import accounts_required


def request_owner(request: HttpRequest) -> AbstractBaseUser | None:
    """The signed-in user with ACCOUNTS=required; None (the shared list) when
    accounts are open. Permissions have already refused anyone not signed in."""
    if not accounts_required():
        return None
    return request.user if request.user.is_authenticated else None
