from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CalendarsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "calendars"

    def ready(self) -> None:
        # Every change to a todo, however it is made (API, admin, shell), puts
        # its owner's calendar feed out of date.
        from calendars.feeds import count_change_along, todo_changed
        from todos.models import Todo
        from todos.signals import todo_write_along

        post_save.connect(todo_changed, sender=Todo, dispatch_uid="feed-save")
        post_delete.connect(todo_changed, sender=Todo, dispatch_uid="feed-delete")
        # The API's own writes count the change in their statement instead.
        todo_write_along.connect(
            count_change_along, sender=Todo, dispatch_uid="feed-along"
        )
