from django.conf import settings
from django.db import models


class Todo(models.Model):
    """Something a person means to do, perhaps by a deadline."""

    title = models.CharField(max_length=200)
    # The API tells "no description" (null) from an empty one, as clients expect.
    description = models.TextField(max_length=5000, null=True, blank=True)  # noqa: DJ001
    completed = models.BooleanField(default=False)
    deadline_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Whose it is with ACCOUNTS=required; null in the shared list of ACCOUNTS=open.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="todos",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
