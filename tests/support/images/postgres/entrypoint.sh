#!/bin/sh
# The official image's start-up, as far as docker-compose.yml relies on it: a
# first start makes the cluster with POSTGRES_USER/POSTGRES_PASSWORD and the
# database POSTGRES_DB; then the server runs as `postgres`, on 127.0.0.1 only
# (the stack shares one network namespace).
set -eu
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$password_file"
  chown postgres "$password_file"
  runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$database" != postgres ]; then
    runuser -u postgres -- psql -q -U "$user" -d postgres -c "CREATE DATABASE \"$database\""
  fi
  runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
if [ "${1:-}" = postgres ]; then
  shift
  exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 "$@"
fi
exec "$@"
