#!/bin/sh
# The image's entrypoint, for its three roles; the command follows it:
#   web:     gunicorn -c python:taskoverflow.gunicorn_conf taskoverflow.wsgi
#   worker:  celery -A taskoverflow worker -l INFO
#   migrate: migrate (one-off: applies migrations, then exits)
# It waits for the database (DATABASE_WAIT_TIMEOUT seconds at most, then stops
# with a message naming the database); web and migrate apply migrations, the
# worker waits until they are applied (as long again at most). Then it becomes
# the command, so that the command gets the container's signals.
set -eu
export PYTHONUNBUFFERED=1
# On ECS the load balancer's health checks name the task's own private address
# as the host: ask ECS for it once, here, and allow it (never at every import of
# the settings).
if [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
  task_addresses=$(python -m taskoverflow.aws)
  if [ -n "$task_addresses" ]; then
    export ALLOWED_HOSTS="${ALLOWED_HOSTS:+$ALLOWED_HOSTS,}$task_addresses"
  fi
fi
case "${1:-}" in
  migrate) exec python -m taskoverflow.prestart --migrate ;;
  gunicorn) python -m taskoverflow.prestart --migrate ;;
  celery) python -m taskoverflow.prestart --wait-for-migrations ;;
  *) python -m taskoverflow.prestart ;;
esac
exec "$@"
