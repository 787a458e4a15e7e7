import secrets

from django.db import models
from knox.models import AbstractAuthToken


def new_public_id() -> str:
    return secrets.token_hex(8)


class PersonalToken(AbstractAuthToken):
    """A personal access token: knox's (only its SHA-512 digest is stored), with
    a name its owner chose and a public id that names it in URLs, since the
    digest and the token's first characters are for checking it, not showing."""

    name = models.CharField(max_length=100)
    public_id = models.CharField(
        max_length=16, unique=True, default=new_public_id, editable=False
    )

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
