# shellcheck shell=bash
# postgres.sh - a private PostgreSQL server for tests (source it). Its data
# directory, its unix socket and its log live in one temporary directory;
# it listens on no TCP port at all. Run as root, the server runs as the
# unprivileged `postgres` user; run as anyone else, as that user. Several
# instances run side by side (one directory each).
#
#   pg_start      start an instance; sets PG_DIR, PG_SOCK and PG_CONNINFO
#                 (a libpq connection string for the database "faxfs",
#                 user "postgres", over the socket); returns 77 when the
#                 PostgreSQL binaries are not installed (scripts/setup.sh)
#   pg_stop       stops it and removes its directory (also at exit: from
#                 tests/mount/lib.sh's exit hooks when that is loaded, so
#                 the daemon stops first; else from an EXIT trap)
#   pg_sql SQL    runs SQL in the database with psql, prints the rows
#   pg_down       stops the server, keeping its data (an outage)
#   pg_up         starts it again on the same data and socket
#
# PG_FSYNC=on makes the server durable (benchmarks); PG_OPTIONS adds
# server settings (`-c name=value ...`).
#
# bash has one trap per signal: without lib.sh, pg_start chains to an EXIT
# trap set before it; a trap set after it must call pg_stop itself.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=""

pg_log() { echo "postgres.sh: $*" >&2; }

# Runs a command as the server's user, from a directory that user may
# enter (the caller's may be root's home).
pg_as_user() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$PG_DIR" && setpriv --reuid=postgres --regid=postgres --init-groups -- "$@")
    else
        "$@"
    fi
}

pg_start() {
    if [[ ! -x $PG_BIN/initdb || ! -x $PG_BIN/pg_ctl ]]; then
        pg_log "PostgreSQL is not installed ($PG_BIN/initdb missing; scripts/setup.sh installs postgresql-15)"
        return 77
    fi
    if [[ $(id -u) -eq 0 ]] && ! getent passwd postgres >/dev/null; then
        pg_log "no 'postgres' user to run the server as (scripts/setup.sh installs postgresql-15)"
        return 77
    fi
    PG_DIR=$(mktemp -d /tmp/faxfs-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    PG_SOCK=$PG_DIR/sock
    mkdir -p "$PG_SOCK"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$PG_DIR" "$PG_SOCK"
    if declare -F on_exit >/dev/null; then
        on_exit pg_stop # tests/mount/lib.sh: after the daemon has stopped
    else
        local prev
        prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
        # shellcheck disable=SC2064
        trap "pg_stop; ${prev:-:}" EXIT
    fi
    if ! pg_as_user "$PG_BIN/initdb" -D "$PG_DIR/data" -N -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
        >"$PG_DIR/initdb.log" 2>&1; then
        pg_log "initdb failed:"
        cat "$PG_DIR/initdb.log" >&2
        return 1
    fi
    # Small and quiet: one test's server among several on two cores. No
    # fsync for tests (PG_FSYNC=on for benchmarks).
    pg_up || return 1
    PG_CONNINFO="host=$PG_SOCK user=postgres dbname=faxfs"
    if ! pg_as_user "$PG_BIN/createdb" -h "$PG_SOCK" -U postgres faxfs; then
        pg_log "createdb failed"
        return 1
    fi
    export PG_CONNINFO PG_SOCK PG_DIR
}

pg_up() {
    if ! pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-k $PG_SOCK -c listen_addresses='' -c shared_buffers=16MB -c max_connections=20 -c fsync=${PG_FSYNC:-off} ${PG_OPTIONS:-}" \
        start >/dev/null; then
        pg_log "the server did not start:"
        tail -n 30 "$PG_DIR/server.log" >&2
        return 1
    fi
}

pg_down() {
    pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
}

pg_sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c "$1"
}

pg_stop() {
    [[ -n $PG_DIR && -d $PG_DIR ]] || return 0
    if [[ -f $PG_DIR/data/postmaster.pid ]]; then
        pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || {
            local pid
            pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)
            [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
        }
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
}
