"""gunicorn settings, read from the environment; used by `make run` and the image.

Run: gunicorn -c python:taskoverflow.gunicorn_conf taskoverflow.wsgi

Worker processes each run a pool of threads (gunicorn's gthread, made patient
with slow clients in taskoverflow/gunicorn_worker.py): a slow or idle socket
holds at most a thread, and only once its request head has arrived whole.
"""

import os

# Loopback by default: a developer's server is not for the network. The image
# sets WEB_BIND=0.0.0.0:6400.
bind = os.environ.get("WEB_BIND", "127.0.0.1:6400")
worker_class = "taskoverflow.gunicorn_worker.HeadBufferingWorker"
# Processes for the CPUs (threads share one CPU per process); at least two, so
# that one being replaced never leaves none.
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, len(os.sched_getaffinity(0))))
# Requests served at once by each process; each may hold a database connection.
threads = int(os.environ.get("WEB_THREADS") or 8)
# Connections a process keeps open at once, idle and slow ones included.
worker_connections = int(os.environ.get("WEB_MAX_CONNECTIONS") or 1000)
# Seconds an idle kept-alive connection stays open (in the event loop, holding
# no thread). Behind a load balancer, make it longer than the balancer's idle
# timeout (60 s on AWS), or the balancer may send on a connection being closed.
keepalive = int(os.environ.get("WEB_KEEPALIVE") or 5)
# Seconds a request head may take to arrive whole (slow headers are cut).
header_timeout = float(os.environ.get("WEB_HEADER_TIMEOUT") or 10)
# Seconds a client may stall mid-body or mid-download before it is cut; a slow
# download that keeps moving is never cut, however long it takes.
client_timeout = float(os.environ.get("WEB_CLIENT_TIMEOUT") or 30)
# A worker process whose event loop is silent this long is stuck; it is
# replaced. Requests run in threads, so a long download never counts.
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
graceful_timeout = 20
# X-Forwarded-Proto and the like are believed by Django alone, and only with
# TRUST_X_FORWARDED_PROTO; gunicorn's default would believe any local client.
forwarded_allow_ips = ""
# Workers' heartbeat files: in memory where there is /dev/shm (Linux, containers),
# as gunicorn advises; the image's root filesystem is read-only on ECS.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn 25+ opens a control socket under $HOME by default; the image's /app
# is read-only on ECS (an error at every start) and nothing here uses gunicornc.
control_socket_disable = True
# A line per request, when WEB_ACCESS_LOG names where ("-": standard output, as
# on ECS, where CloudWatch keeps it). Off by default, as in gunicorn: writing it
# costs about 7% of a small request's CPU (docs/benchmarks.md).
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
