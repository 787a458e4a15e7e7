"""The image's HEALTHCHECK: exit 0 when this container's web server answers
/api/v1/health with 200, 1 otherwise (and say why). `python -m
taskoverflow.healthcheck worker` checks a worker instead: its event loop has
touched its sign of life lately (taskoverflow/worker_alive.py).

Asks the port of WEB_BIND on 127.0.0.1, naming the first of ALLOWED_HOSTS as the
host so that Django answers it. It reads no settings and takes a fraction of a
second (it runs every 30 s).
"""

import os
import sys
import urllib.error
import urllib.request


def web_healthy() -> int:
    port = os.environ.get("WEB_BIND", "127.0.0.1:6400").rsplit(":", 1)[-1]
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",")]
    host = next((h.lstrip(".") for h in hosts if h and h != "*"), "localhost")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/health", headers={"Host": host}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: /api/v1/health answered {status}", file=sys.stderr)
        return 1
    return 0


def worker_healthy() -> int:
    from taskoverflow.worker_alive import STALE_SECONDS, seconds_since_alive

    age = seconds_since_alive()
    if age is None:
        print("unhealthy: the worker has not started", file=sys.stderr)
        return 1
    if age > STALE_SECONDS:
        print(
            f"unhealthy: the worker's loop is silent for {age:.0f} s", file=sys.stderr
        )
        return 1
    return 0


def main(argv: list[str]) -> int:
    return worker_healthy() if argv[:1] == ["worker"] else web_healthy()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
