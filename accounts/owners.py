"""Whose todos, jobs and feed they are: the field that says so, and the owner
a request works on."""

from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.modes import accounts_required

Rows = TypeVar("Rows", bound=QuerySet)


def request_owner(request: HttpRequest) -> AbstractBaseUser | None:
    """The signed-in user with ACCOUNTS=required; None (the shared list) when
    accounts are open. Permissions have already refused anyone not signed in."""
    if not accounts_required():
        return None
    return request.user if request.user.is_authenticated else None


def owner_field(*, related_name: str, one_per_owner: bool = False) -> models.Field:
    """A row's owner with ACCOUNTS=required; null for the shared list of
    ACCOUNTS=open. Deleting a user deletes what they own."""
    field = models.OneToOneField if one_per_owner else models.ForeignKey
    return field(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name=related_name,
    )


def owned_by(rows: Rows, owner: AbstractBaseUser | int | None) -> Rows:
    """The rows of one owner (a user or their id); None: the shared list of
    ACCOUNTS=open, whose rows have no owner."""
    if owner is None:
        return rows.filter(owner__isnull=True)
    return rows.filter(owner=owner)
