"""Django's PostgreSQL backend, whose health check of a quiet connection costs
no round trip. Named by settings.py as the engine for every postgres:// URL.

With CONN_HEALTH_CHECKS, Django checks a kept connection before each request
(and each task) reuses it, by sending `SELECT 1` and waiting for the answer:
one round trip in front of every request's own statements, which cost more
wall time than a one-todo GET's own query under load (docs/benchmarks.md).

A server says nothing on an idle connection of ours until it ends it: a
restart, pg_terminate_backend, an idle timeout or a proxy that drops it each
leave an error message and the end of the stream to read. So a connection
with nothing to read, no transaction open and no error since its last check
is usable as it stands; anything else (something arrived, a transaction left
open, an error on the connection) gets Django's own `SELECT 1`, which reads
what arrived and fails where the connection is gone. A server that is gone
without a word (a stall) is met as before: the next statement waits at most
as long as the bounds in settings.py allow.
"""

import select

from django.db.backends.postgresql import base
from psycopg import Connection, pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if (
            self.connection is not None
            and not self.errors_occurred
            and quiet_and_idle(self.connection)
        ):
            return True
        return super().is_usable()


def quiet_and_idle(connection: Connection) -> bool:
    """True when the connection is open, outside a transaction, and the server
    has sent nothing since the end of our last statement."""
    if connection.closed or connection.pgconn.status != pq.ConnStatus.OK:
        return False
    if connection.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    # poll, not select: a process with many sockets has descriptors past 1024.
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)
