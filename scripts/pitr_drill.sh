#!/usr/bin/env bash
# PostgreSQL point-in-time recovery drill (docs/operations.md, "Point-in-time recovery").
#
# Builds a private PostgreSQL cluster in a temporary directory (never the system cluster on
# :5432), with WAL archiving on, and plays the incident through:
#   1. batch A is written; a base backup is taken (pg_basebackup);
#   2. batch B is written; the recovery target time is recorded; the WAL is switched;
#   3. batch C, "the mistake", is written; the WAL is switched and archived; the cluster stops;
#   4. the base backup is restored into a new data directory with restore_command,
#      recovery_target_time and recovery.signal, and started;
#   5. PASS when A and B are there and C is not.
# Prints PASS or FAIL, exits 0 or 1 (2 when it cannot run), and removes everything it made.
#
# Usage: scripts/pitr_drill.sh
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PITR_DRILL_PORT (first port tried,
# default 54329), PITR_DRILL_TIMEOUT (seconds for the whole drill, default 180),
# PITR_DRILL_KEEP=1 keeps the temporary directory for a look afterwards.
# Run as root, it runs PostgreSQL as the `postgres` user (runuser); otherwise as the caller.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
FIRST_PORT="${PITR_DRILL_PORT:-54329}"
DEADLINE=$((SECONDS + ${PITR_DRILL_TIMEOUT:-180}))
ROWS_A=1000
ROWS_B=500
ROWS_C=250

started=$SECONDS
say() { printf '[pitr-drill %3ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
    say "FAIL: $*"
    for log in "$work"/*.log; do
        [ -f "$log" ] || continue
        echo "--- last lines of $log"
        tail -n 15 "$log"
    done
    exit 1
}

for tool in initdb pg_ctl pg_basebackup psql; do
    if [ ! -x "$PG_BIN/$tool" ]; then
        echo "pitr-drill: $PG_BIN/$tool not found: install the PostgreSQL server" \
            "(apt-get install postgresql-15) or set PG_BIN" >&2
        exit 2
    fi
done

# Who runs PostgreSQL: it refuses to run as root.
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "pitr-drill: running as root needs a 'postgres' user to run the server as" >&2
        exit 2
    fi
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/alice-pitr-drill.XXXXXX")"
primary="$work/primary"
restored="$work/restored"
archive="$work/archive"
base="$work/base"
socket="$work/socket"
mkdir -p "$archive" "$socket"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$work"; fi
# A directory the server's user can read: the tools look up the current directory.
cd "$work"

cleanup() {
    local status=$?
    for data in "$restored" "$primary"; do
        if [ -f "$data/postmaster.pid" ]; then
            as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -t 20 stop >/dev/null 2>&1 || true
        fi
    done
    if [ "${PITR_DRILL_KEEP:-0}" = 1 ]; then
        echo "pitr-drill: kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port: nothing answers there on 127.0.0.1.
port="$FIRST_PORT"
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
    [ "$port" -lt $((FIRST_PORT + 50)) ] || fail "no free port from $FIRST_PORT on"
done

sql() { as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$socket" -p "$port" -U postgres -d drill "$@"; }
remaining() { echo $((DEADLINE - SECONDS)); }
check_time() { [ "$(remaining)" -gt 0 ] || fail "the drill took longer than its time limit"; }

start() { # data directory, log file
    check_time
    as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$2" -w -t "$(remaining)" start >/dev/null ||
        fail "PostgreSQL in $1 did not start"
}

say "cluster in $work, port $port, binaries $PG_BIN"
as_pg "$PG_BIN/initdb" -D "$primary" -U postgres --auth=trust --no-sync >"$work/initdb.log" 2>&1 ||
    fail "initdb failed"
cat >>"$primary/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $archive/%f && cp %p $archive/%f'
archive_timeout = 0
max_wal_senders = 4
fsync = off
EOF
start "$primary" "$work/primary.log"
as_pg "$PG_BIN/psql" -X -q -h "$socket" -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE drill" >/dev/null || fail "cannot create the drill database"

sql -c "CREATE TABLE events (id bigserial PRIMARY KEY, batch text NOT NULL,
                             at timestamptz NOT NULL DEFAULT clock_timestamp())"
sql -c "INSERT INTO events (batch) SELECT 'A' FROM generate_series(1, $ROWS_A)"
say "batch A written ($ROWS_A rows); taking the base backup"

check_time
as_pg "$PG_BIN/pg_basebackup" -h "$socket" -p "$port" -U postgres -D "$base" \
    --format=plain --wal-method=stream --checkpoint=fast --no-sync >"$work/basebackup.log" 2>&1 ||
    fail "pg_basebackup failed"

sql -c "INSERT INTO events (batch) SELECT 'B' FROM generate_series(1, $ROWS_B)"
target_time="$(sql -c "SELECT now()")"
sql -c "SELECT pg_switch_wal()" >/dev/null
say "batch B written ($ROWS_B rows); recovery target time $target_time"
sleep 1

sql -c "INSERT INTO events (batch) SELECT 'C' FROM generate_series(1, $ROWS_C)"
last_wal="$(sql -c "SELECT pg_walfile_name(pg_switch_wal())")"
say "batch C (the mistake) written ($ROWS_C rows); waiting for $last_wal to be archived"
until [ -f "$archive/$last_wal" ]; do
    check_time
    failed="$(sql -c "SELECT failed_count FROM pg_stat_archiver")"
    [ "$failed" = 0 ] || fail "archive_command failed $failed times"
    sleep 0.2
done
as_pg "$PG_BIN/pg_ctl" -D "$primary" -m fast -t "$(remaining)" stop >/dev/null ||
    fail "the primary did not stop"
say "primary stopped; $(find "$archive" -type f | wc -l) WAL files archived"

# The restore: the base backup, the archive as restore_command, and where to stop.
cp -a "$base" "$restored"
chmod 700 "$restored"
cat >>"$restored/postgresql.auto.conf" <<EOF
archive_mode = off
restore_command = 'cp $archive/%f %p'
recovery_target_time = '$target_time'
recovery_target_action = 'promote'
EOF
as_pg touch "$restored/recovery.signal"
say "restoring the base backup to $target_time"
start "$restored" "$work/restored.log"
until [ "$(sql -c "SELECT pg_is_in_recovery()")" = f ]; do
    check_time
    sleep 0.2
done

counts="$(sql -F ' ' -c "SELECT count(*) FILTER (WHERE batch = 'A'),
                                 count(*) FILTER (WHERE batch = 'B'),
                                 count(*) FILTER (WHERE batch = 'C') FROM events")"
read -r got_a got_b got_c <<<"$counts"
say "after recovery: A=$got_a B=$got_b C=$got_c (expected A=$ROWS_A B=$ROWS_B C=0)"
grep -E "recovery stopping|starting point-in-time recovery|archive recovery complete" \
    "$work/restored.log" | sed 's/^/    /' || true
if [ "$got_a" = "$ROWS_A" ] && [ "$got_b" = "$ROWS_B" ] && [ "$got_c" = 0 ]; then
    say "PASS: recovered to the moment before the mistake in $((SECONDS - started)) s"
else
    fail "the recovered database does not hold exactly batches A and B"
fi
