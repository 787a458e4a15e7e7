"""Functions that read personal access tokens."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import PersonalToken


def personal_tokens_of(user: AbstractBaseUser) -> QuerySet[PersonalToken]:
    """The user's tokens that still work, oldest first."""
    return PersonalToken.objects.filter(
        Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()), user=user
    ).order_by("created")
