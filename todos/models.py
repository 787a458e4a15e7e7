from django.db import models

from accounts.owners import owner_field


class Todo(models.Model):
    """Something a person means to do, perhaps by a deadline."""

    title = models.CharField(max_length=200)
    # The API tells "no description" (null) from an empty one, as clients expect.
    description = models.TextField(max_length=5000, null=True, blank=True)  # noqa: DJ001
    completed = models.BooleanField(default=False)
    deadline_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    owner = owner_field(related_name="todos")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
