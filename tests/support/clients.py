"""Clients that misbehave on purpose, on real sockets, and a probe that times
the health check while they do: for the tests of a hostile web tier."""

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests


def address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname, parts.port


@contextmanager
def idle_connections(base: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that are opened and then send nothing."""
    sockets = [socket.create_connection(address(base), timeout=5) for _ in range(count)]
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def slow_header_connections(
    base: str, count: int, *, every: float = 1.0
) -> Iterator[list[socket.socket]]:
    """`count` connections that send a request line, then one more header line
    every `every` seconds, and never end the head (slowloris)."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(address(base), timeout=5)
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sockets.append(sock)
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(every):
            for sock in sockets:
                try:
                    sock.sendall(b"X-Slow: y\r\n")
                except OSError:
                    pass  # the server cut it: what it should do, in time

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        yield sockets
    finally:
        stop.set()
        dripper.join(timeout=5)
        for sock in sockets:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (reads end or fail)."""
    sock.settimeout(0.05)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except TimeoutError:
        return False
    except OSError:
        return True


@dataclass
class Probe:
    """GET /api/v1/health every `interval` s from a thread; each answer's time."""

    base: str
    interval: float = 0.25
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = requests.get(f"{self.base}/api/v1/health", timeout=10)
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
            except requests.RequestException as error:
                self.failures.append(repr(error))
            self.seconds.append(time.monotonic() - started)
            self._stop.wait(self.interval)

    def __enter__(self) -> "Probe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    @property
    def worst(self) -> float:
        return max(self.seconds, default=float("inf"))


def slow_download(
    url: str, *, receive_buffer: int = 16 * 1024, pause: float = 0.02
) -> tuple[int, str, bytes]:
    """GET `url` over a raw socket with a small receive buffer, reading a
    buffer's worth every `pause` seconds; the status, the ETag and the body.
    The connection is closed by the server once the body is sent, or cut."""
    host, port = address(url)
    path = url[url.index("/", len("http://")) :]
    sock = socket.socket()
    # Before connecting, so that the window the server sees stays small.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(60)
    sock.connect((host, port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    )
    received = bytearray()
    with sock:
        while True:
            try:
                chunk = sock.recv(receive_buffer)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
            time.sleep(pause)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, headers.get("ETag", "").strip('"'), body


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_request(base: str, data: bytes, *, timeout: float = 10) -> bytes:
    """Send bytes as they are and read the answer until the server closes."""
    with socket.create_connection(address(base), timeout=timeout) as sock:
        sock.sendall(data)
        answer = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    return bytes(answer)
