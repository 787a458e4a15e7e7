#!/bin/sh
# As the official image: redis-server runs as `redis` with /data its folder;
# here on 127.0.0.1 only (the stack shares one network namespace).
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  chown redis:redis /data
  exec runuser -u redis -- redis-server --bind 127.0.0.1 --dir /data "$@"
fi
exec "$@"
