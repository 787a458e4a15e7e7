#!/bin/sh
# The image's entrypoint, for both roles; the command follows it:
#   web:    gunicorn -c python:taskoverflow.gunicorn_conf taskoverflow.wsgi
#   worker: celery -A taskoverflow worker -l INFO
# It waits for the database (DATABASE_WAIT_TIMEOUT seconds at most, then stops
# with a message naming the database), migrates for the web role only, and then
# becomes the command, so that the command gets the container's signals.
set -eu
export PYTHONUNBUFFERED=1
case "${1:-}" in
  gunicorn) python -m taskoverflow.prestart --migrate ;;
  *) python -m taskoverflow.prestart ;;
esac
exec "$@"
