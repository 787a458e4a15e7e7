"""Faults injected between a service and what it talks to."""

import socket
import threading

from tests.support.processes import free_port


class TcpProxy:
    """A TCP forwarder to inject faults: forward, stall (accept, never answer), or
    refuse (nothing listens). It stands between a service and its database."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.stalled = False
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def refuse(self) -> None:
        """Stop listening and drop every connection: connections are refused."""
        if self._listener is not None:
            # shutdown() first: a bare close() leaves a thread blocked in accept()
            # listening on.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self._drop_connections()

    def stall(self) -> None:
        """Accept connections but pass nothing on: the peer never answers."""
        self.stalled = True
        self._drop_connections()

    def resume(self) -> None:
        self.stalled = False
        if self._listener is None:
            self.start()

    def _drop_connections(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self._connections.append(client)
            if self.stalled:
                continue  # hold it open, say nothing
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if self.stalled:
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass
