"""Functions that write personal access tokens and accounts."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from accounts.models import PersonalToken


def personal_token_create(
    *, user: AbstractBaseUser, name: str, expires_in_days: int | None = None
) -> tuple[PersonalToken, str]:
    """A new token of the user's, and its text: shown once, since only its
    digest is kept."""
    expiry = timedelta(days=expires_in_days) if expires_in_days else None
    return PersonalToken.objects.create(user, expiry=expiry, name=name)


def personal_token_revoke(*, user: AbstractBaseUser, public_id: str) -> bool:
    """Delete one of the user's tokens; whether there was one of that id."""
    deleted, _ = PersonalToken.objects.filter(user=user, public_id=public_id).delete()
    return bool(deleted)


def user_by_username(username: str) -> AbstractBaseUser | None:
    User = get_user_model()
    return User.objects.filter(**{User.USERNAME_FIELD: username}).first()
