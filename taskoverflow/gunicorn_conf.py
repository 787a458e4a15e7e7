"""gunicorn settings, read from the environment; used by `make run` and the image.

Run: gunicorn -c python:taskoverflow.gunicorn_conf taskoverflow.wsgi
"""

import os

# Loopback by default: a developer's server is not for the network. The image
# sets WEB_BIND=0.0.0.0:6400.
bind = os.environ.get("WEB_BIND", "127.0.0.1:6400")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# A request that takes longer than this is stuck; the worker is replaced.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
# Workers' heartbeat files: in memory where there is /dev/shm (Linux, containers),
# as gunicorn advises; the image's root filesystem is read-only on ECS.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
errorlog = "-"
