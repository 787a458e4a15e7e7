"""The todos app's own signal.

todo_write_along: sent by todos/services.py before it writes a todo in one
statement, with `owner_id` (the todo's owner; None: the shared list) and
`using`. A receiver answers with an api.compiled.Along, an UPDATE of its own
to run in that statement (so that it happens if and only if the todo is
written), or None. The todo's post_save then goes out with
`written_along=True`: what the receivers asked for is done. Sent only where
the database runs an UPDATE within another statement (PostgreSQL); elsewhere
the write is a transaction, and post_save's receivers write in it.
"""

from django.dispatch import Signal

todo_write_along = Signal()
