"""An owner's compiled query: the shared list's rows, or one user's, and never
another's."""

import pytest

from accounts.owners import OwnedQuery, owned_by
from api.compiled import STAND_IN_ID
from todos.models import Todo

pytestmark = pytest.mark.django_db


def titles_query() -> OwnedQuery:
    return OwnedQuery.of(
        lambda owner: (
            owned_by(Todo.objects.filter(id__gt=STAND_IN_ID), owner)
            .order_by("id")
            .values_list("title")
        ),
        after=(STAND_IN_ID, Todo._meta.pk),
    )


def test_each_owner_gets_their_own_rows_and_the_shared_list_its_own(alice, bob):
    for owner, title in ((None, "shared"), (alice, "alice's"), (bob, "bob's")):
        Todo.objects.create(title=title, owner=owner)
        Todo.objects.create(title=f"{title} too", owner=owner)
    query = titles_query()

    assert query.rows(None, after=0) == [("shared",), ("shared too",)]
    assert query.rows(alice, after=0) == [("alice's",), ("alice's too",)]
    assert query.rows(bob.pk, after=0) == [("bob's",), ("bob's too",)]  # an id
    first_of_bob = Todo.objects.get(title="bob's").pk
    assert query.rows(bob, after=first_of_bob) == [("bob's too",)]
    assert list(query.stream(alice, size=1, after=0)) == query.rows(alice, after=0)
