"""Whose todos, jobs and feed they are: the field that says so, and the owner
a request works on."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.db.models import Field, QuerySet
from django.http import HttpRequest

from accounts.modes import accounts_required
from api.compiled import STAND_IN_OWNER_ID, CompiledQuery

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


@dataclass(frozen=True)
class OwnedQuery:
    """A compiled query (api/compiled.py) of one owner's rows, as owned_by()
    picks them: compiled twice, since the shared list's rows (owner IS NULL)
    and a user's (owner = %s) are different SQL. Its `rows` and `stream` take
    the owner (a user, their id, or None) and the query's other values."""

    shared: CompiledQuery
    owned: CompiledQuery

    @classmethod
    def of(
        cls, rows_of: Callable[[int | None], QuerySet], **slots: tuple[Any, Field]
    ) -> "OwnedQuery":
        """`rows_of(owner)`: the queryset of an owner's rows (owner None: the
        shared list's), written with the stand-ins of `slots`."""
        owned = rows_of(STAND_IN_OWNER_ID)
        owner_id = (STAND_IN_OWNER_ID, owned.model._meta.get_field("owner"))
        return cls(
            shared=CompiledQuery.of(rows_of(None), **slots),
            owned=CompiledQuery.of(owned, owner_id=owner_id, **slots),
        )

    def for_owner(
        self, owner: AbstractBaseUser | int | None, values: dict[str, Any]
    ) -> tuple[CompiledQuery, dict[str, Any]]:
        """The compiled query for this owner, and the values to run it with."""
        if owner is None:
            return self.shared, values
        owner_id = getattr(owner, "pk", owner)
        return self.owned, {**values, "owner_id": owner_id}

    def rows(self, owner: AbstractBaseUser | int | None, **values: Any) -> list[tuple]:
        query, values = self.for_owner(owner, values)
        return query.rows(**values)

    def stream(
        self, owner: AbstractBaseUser | int | None, *, size: int, **values: Any
    ) -> Iterator[tuple]:
        query, values = self.for_owner(owner, values)
        return query.stream(size=size, **values)
