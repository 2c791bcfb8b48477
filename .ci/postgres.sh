# Sourced by .ci/run (and usable by hand: `source .ci/postgres.sh;
# start_test_postgres`): a throwaway PostgreSQL server for the tests.
# Installs Debian's postgresql if missing, initdb's a cluster in a temp
# directory as an unprivileged user, listens on 127.0.0.1 on a free port,
# exports DRAINWATCH_TEST_POSTGRES (a URL of a database the tests may fill
# and empty), and stops and removes it at exit.

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

start_test_postgres() {
  local bin
  if ! bin=$(pg_bin); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(pg_bin) || { echo "postgresql: no initdb after installing it" >&2; return 1; }
  fi
  # Postgres refuses to run as root: the cluster belongs to an unprivileged
  # user (the package's own, or one made for it).
  local user=postgres
  if [ "$(id -u)" = 0 ]; then
    id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
  else
    user=$(id -un)
  fi
  PG_TEST_DIR=$(mktemp -d /tmp/drainwatch-pg.XXXXXX)
  chmod 755 "$PG_TEST_DIR"
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
  [ "$(id -u)" = 0 ] && chown "$user" "$PG_TEST_DIR"
  as_pg "$bin/initdb" -D "$PG_TEST_DIR/data" -U drainwatch -A trust -E UTF8 --no-sync >"$PG_TEST_DIR/initdb.log" 2>&1 ||
    { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
  local port tries=0
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then
      if as_pg "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c max_connections=200" start >/dev/null 2>&1; then
        break
      fi
    fi
    tries=$((tries + 1))
    if [ $tries -ge 5 ]; then
      cat "$PG_TEST_DIR/server.log" >&2
      return 1
    fi
  done
  PG_TEST_BIN=$bin PG_TEST_USER=$user
  export DRAINWATCH_TEST_POSTGRES="postgres://drainwatch@127.0.0.1:$port/postgres?sslmode=disable"
  trap stop_test_postgres EXIT
  echo "test postgres: $DRAINWATCH_TEST_POSTGRES ($PG_TEST_DIR)"
}

stop_test_postgres() {
  [ -n "${PG_TEST_DIR:-}" ] || return 0
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_TEST_USER" -- "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  else
    "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_TEST_DIR"
  PG_TEST_DIR=
}
