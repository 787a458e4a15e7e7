"""gunicorn's threaded worker, made patient with slow clients: named by
taskoverflow/gunicorn_conf.py as its worker class.

gunicorn's gthread worker runs each request in a thread of a pool, and parks
idle kept-alive connections in its event loop. Measured against gunicorn 27,
three things still let a few sockets take a worker's threads:

- A new connection is handed to a thread straight away, which waits up to 5 s
  for its first byte; a connection that sends a byte and then its head slowly
  keeps the thread until the head ends, however long that is. Fifty such
  connections (slowloris) left /api/v1/health unanswered.
- A connection to be closed is closed from the event loop after waiting up to
  2 s for the client to close its end, and the loop serves nothing meanwhile.
- gunicorn's own refusals (a malformed request line, a header too large) are
  HTML pages.

So here the event loop reads each request head itself, without blocking, and
hands a connection to a thread only once its head has arrived whole; a head
must do so within WEB_HEADER_TIMEOUT seconds of its first byte (or of the
connection, for the first request), else the connection is closed with a 408.
Closing connections linger in the event loop, never blocking it. A thread that
serves a request waits at most WEB_CLIENT_TIMEOUT seconds for each read of
the body and each write of the answer: a stalled client is cut, while a slow
download that keeps moving is never cut, however long it takes. gunicorn's own
refusals are JSON.

What stays out of reach here (a buffering proxy in front fixes them, see
docs/deployment.md): a body sent slowly still holds a thread while it is read,
as does a slow download while it is written (sendfile, each write bounded);
and every connection holds a file descriptor, WEB_MAX_CONNECTIONS a worker.
"""

import errno
import json
import selectors
import socket
import time
from functools import partial

from gunicorn import http, util
from gunicorn.workers.gthread import _DEFER, TConn
from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

from taskoverflow import gunicorn_conf

# A head larger than this is refused with 431; gunicorn's own field limits
# (limit_request_line, limit_request_field_size) refuse smaller ones first.
MAX_HEAD_BYTES = 64 * 1024
# How long a closed connection lingers for the client's last bytes (RFC 9112
# section 9.6), in the event loop.
LINGER_SECONDS = 2.0
# How often connections are looked over for a passed deadline.
DEADLINE_CHECK_SECONDS = 0.1
REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


def write_json_error(sock: socket.socket, status: int, reason: str, mesg: str) -> None:
    """gunicorn's refusal, as JSON: {"error": "<reason>: <what was wrong>"}."""
    body = json.dumps({"error": f"{reason}: {mesg}" if mesg else reason}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class HeadBufferingWorker(GThreadWorker):
    """gthread whose threads serve only requests whose head has arrived."""

    def init_process(self) -> None:
        if self.cfg.is_ssl:
            # Heads are read here before gunicorn's parser sees the socket,
            # which would skip its TLS handshake: TLS ends in front of us.
            raise RuntimeError("HeadBufferingWorker serves plain HTTP, not TLS")
        # gunicorn writes its refusals through this one function.
        util.write_error = write_json_error
        # Connections whose head is arriving, and closing ones, with deadlines.
        self.heads: dict[TConn, tuple[bytearray, float]] = {}
        self.lingering: dict[TConn, float] = {}
        self.next_deadline_check = 0.0
        super().init_process()

    # --- reading heads in the event loop -----------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client, address, listener.getsockname())
        self._await_head(conn, bytearray())

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection's next request is arriving: its head is
        read now, usually whole, not after another turn of the event loop."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn, bytearray(), readable=True)

    def _await_head(
        self, conn: TConn, received: bytearray, *, readable: bool = False
    ) -> None:
        conn.sock.setblocking(False)
        self.heads[conn] = (received, time.monotonic() + gunicorn_conf.header_timeout)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self._on_head_readable, conn)
        )
        if received or readable:
            self._on_head_readable(conn, conn.sock)

    def _on_head_readable(self, conn: TConn, client: socket.socket) -> None:
        received, _ = self.heads[conn]
        try:
            data = client.recv(65536)
        except BlockingIOError:
            data = None
        except OSError:
            data = b""
        if data == b"":  # the client closed, or the connection broke
            self._forget_head(conn)
            self._close(conn)
            return
        if data:
            received += data
        # Empty lines before a request line are allowed, and do not start it.
        head = bytes(received).lstrip(b"\r\n")
        if b"\r\n\r\n" in head:
            self._forget_head(conn)
            self._serve(conn, bytes(received))
        elif len(head) > MAX_HEAD_BYTES:
            self._forget_head(conn)
            self._refuse(conn, 431, f"the request head is over {MAX_HEAD_BYTES} bytes")

    def _forget_head(self, conn: TConn) -> None:
        del self.heads[conn]
        self.poller.unregister(conn.sock)

    def _serve(self, conn: TConn, head: bytes) -> None:
        """Give the head to gunicorn's parser, and the connection to a thread."""
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(head)
        conn.data_ready = True  # gthread's thread must not wait for data again
        self.enqueue_req(conn)

    def _refuse(self, conn: TConn, status: int, mesg: str) -> None:
        try:
            write_json_error(conn.sock, status, REASONS[status], mesg)
        except OSError:
            pass
        self._linger(conn)

    # --- in a thread: one request --------------------------------------------------

    def handle_request(self, req, conn: TConn) -> bool:
        # The head is in; reads of the body and writes of the answer each wait
        # at most this long (gthread made the socket blocking, without a bound).
        conn.sock.settimeout(gunicorn_conf.client_timeout)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:
            self.log.info(
                "Closed a connection from %s: the client stalled for %s s",
                conn.client[0] if conn.client else "?",
                gunicorn_conf.client_timeout,
            )
            return False

    # --- back in the event loop: after a request -----------------------------------

    def finish_request(self, conn: TConn, fs) -> None:
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result is True and self.alive and conn.parser is not None:
            # The client may have sent (part of) its next request already: its
            # head is read here too, never by a waiting thread.
            pending = conn.parser.unreader.take_buffered()
            if pending:
                self._await_head(conn, bytearray(pending))
                return
        if result is True or result is _DEFER:
            super().finish_request(conn, fs)  # kept alive, in the event loop
            return
        self._linger(conn)

    def _linger(self, conn: TConn) -> None:
        """Close after the answer: end our side now, and read what the client
        still sends until it closes too, for LINGER_SECONDS at most."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._on_linger_readable, conn)
            )
        except (OSError, ValueError):  # already closed or broken
            self._close(conn)
            return
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS

    def _on_linger_readable(self, conn: TConn, client: socket.socket) -> None:
        try:
            if client.recv(65536):
                return  # more of what the client had sent; keep reading
        except BlockingIOError:
            return
        except OSError:
            pass
        self._end_linger(conn)

    def _end_linger(self, conn: TConn) -> None:
        del self.lingering[conn]
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        self._close(conn)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    # --- deadlines: looked over a few times a second ---------------------------------

    def murder_pending(self) -> None:
        super().murder_pending()
        # gthread's loop calls this after every turn; deadlines are seconds
        # long, so the connections are looked over a few times a second.
        now = time.monotonic()
        if now < self.next_deadline_check:
            return
        self.next_deadline_check = now + DEADLINE_CHECK_SECONDS
        for conn, (received, deadline) in list(self.heads.items()):
            if not self.alive and not received:
                # Stopping: a connection that has sent nothing gets nothing.
                self._forget_head(conn)
                self._close(conn)
            elif deadline <= now:
                self._forget_head(conn)
                self._refuse(
                    conn,
                    408,
                    "the request head did not arrive within "
                    f"{gunicorn_conf.header_timeout:g} s",
                )
        for conn, deadline in list(self.lingering.items()):
            if deadline <= now:
                self._end_linger(conn)
