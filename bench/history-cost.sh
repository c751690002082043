#!/usr/bin/env bash
# Per-request cost of a user with a long history against a fresh user's, side by side:
#
#   bench/history-cost.sh                  (SQLite)
#   ENGINE=postgres bench/history-cost.sh  (PostgreSQL at PG_URL, in a schema of its own)
#
# Starts on 127.0.0.1 the upstream simulator as an `ollama` backend and Alice in front of it
# (cache and Guardian off, so every request takes the whole native path: memory recall,
# history, the backend, the stored turn). Seeds user "heavy" with CONVERSATIONS conversations
# of 4 messages each, straight into the database, and MEMORIES memories through Alice's own
# "kom ihåg att …" (so they are stemmed and indexed as Alice does it). Then:
#
#   1. side by side: `alice bench --user heavy` and `alice bench --user fresh-…` at RATE req/s
#      each, at the same time for DURATION: p50/p99 of each, under the same machine load;
#   2. one after the other, fresh, heavy, heavy, fresh (CPU_DURATION each, at RATE): Alice's
#      CPU time (utime+stime from /proc/PID/stat) per answered request.
#
# The bench's dialogues add conversations to both users as they run (and, with CORPUS=builtin,
# memories too), as real use would. Every fresh run uses a new user name. Everything it starts, it
# stops; the PostgreSQL schema is dropped at the end.
#
# Settings (environment):
#   ENGINE         sqlite | postgres                       (sqlite)
#   PG_URL         PostgreSQL for ENGINE=postgres          (postgres://postgres@127.0.0.1:5432/test)
#   RATE           req/s per user                          (100)
#   DURATION       side-by-side run                        (20s)
#   CPU_DURATION   each CPU run                            (10s)
#   CONVERSATIONS  the heavy user's conversations          (10000)
#   MEMORIES       the heavy user's memories               (100)
#   ALICE          the alice binary                        ($CARGO_TARGET_DIR or target, release)
#   BUILD          0: do not build first                   (1)
#   CORPUS         requests: "plain" is the built-in corpus without its memory commands, so
#                  the users' memories stay as seeded; "builtin" keeps them ("kom ihåg" adds
#                  memories as the run goes); or a JSONL file (see docs/bench.md)   (plain)
#   OUT            reports and logs                        (target/history-cost)
set -euo pipefail

ENGINE="${ENGINE:-sqlite}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
RATE="${RATE:-100}"
DURATION="${DURATION:-20s}"
CPU_DURATION="${CPU_DURATION:-10s}"
CONVERSATIONS="${CONVERSATIONS:-10000}"
MEMORIES="${MEMORIES:-100}"
BUILD="${BUILD:-1}"
CORPUS="${CORPUS:-plain}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
alice="${ALICE:-$target_dir/release/alice}"
out="${OUT:-$repo/target/history-cost}"
case "$out" in /*) ;; *) out="$repo/$out" ;; esac
unset ALICE_CONFIG
schema="alice_history_cost_$$"

log() { printf '[history-cost %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$ENGINE" = postgres ]; then
        psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ "$BUILD" = 1 ] && [ -z "${ALICE:-}" ]; then
    log "building Alice (release, --no-default-features)"
    (cd "$repo" && cargo build --release --no-default-features)
fi
case "$ENGINE" in
    sqlite) command -v sqlite3 >/dev/null || { log "needs the sqlite3 command"; exit 1; } ;;
    postgres) command -v psql >/dev/null || { log "needs the psql command"; exit 1; } ;;
    *) log "ENGINE is sqlite or postgres, not $ENGINE"; exit 2 ;;
esac

run="$out/$ENGINE"
rm -rf "$run"
mkdir -p "$run/data"
sim_port="$(free_port)"
alice_port="$(free_port)"
if [ "$ENGINE" = sqlite ]; then
    database="url = \"sqlite://$run/data/alice.db\""
else
    database="url = \"$PG_URL\"
schema = \"$schema\""
fi
cat >"$run/alice.toml" <<EOF
[server]
bind = "127.0.0.1:$alice_port"
[auth]
admin_key_file = "$run/data/admin.key"
[database]
$database
erasure_log = "$run/data/erasures.ndjson"
[[backends]]
name = "ollama"
kind = "ollama"
url = "http://127.0.0.1:$sim_port"
model = "gpt-oss:20b"
max_concurrent = 64
queue_depth = 256
[guardian]
enabled = false
data_dir = "$run/data"
[cache]
enabled = false
[log]
stdout = false
file = "$run/alice.ndjson"
EOF

log "starting the simulator (127.0.0.1:$sim_port) and Alice (127.0.0.1:$alice_port, $ENGINE)"
"$alice" upstream-sim --bind "127.0.0.1:$sim_port" >"$run/sim.log" 2>&1 &
pids+=($!)
"$alice" --config "$run/alice.toml" serve >"$run/serve.log" 2>&1 &
alice_pid=$!
pids+=($alice_pid)
base="http://127.0.0.1:$alice_port"
for _ in $(seq 1 100); do
    curl -fs "$base/ready" >/dev/null 2>&1 && [ -s "$run/data/admin.key" ] && break
    sleep 0.2
done
curl -fs "$base/ready" >/dev/null || { log "Alice did not get ready; see $run/serve.log"; exit 1; }
key="$(cat "$run/data/admin.key")"

chat() { # user message (neither holds a quote or a backslash)
    curl -fs -o /dev/null "$base/api/chat" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' -d "{\"user\": \"$1\", \"message\": \"$2\"}"
}

log "seeding user heavy: $CONVERSATIONS conversations (4 messages each) in the database"
chat heavy "Hej!" # creates the user as Alice does
if [ "$ENGINE" = sqlite ]; then
    sqlite3 "$run/data/alice.db" <<EOF
.timeout 30000
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $CONVERSATIONS)
INSERT INTO conversations (id, user_id, title, started_at, last_message_at, message_count)
SELECT printf('00000000-0000-7000-8000-%012d', i), u.id, 'Samtal ' || i,
       strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || i || ' minutes'),
       strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || i || ' minutes', '+10 seconds'), 4
FROM n, users u WHERE u.username = 'heavy';
WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 4)
INSERT INTO messages (id, conversation_id, seq, role, content, created_at, request_id)
SELECT printf('00000001-000%d-7000-8000-%s', k, substr(c.id, 25)), c.id, k, CASE k % 2 WHEN 1 THEN 'user' ELSE 'assistant' END,
       CASE k % 2 WHEN 1 THEN 'Hur blir vädret i Göteborg imorgon?'
                  ELSE 'Det blir sol och tolv grader i Göteborg imorgon.' END,
       c.started_at, 'seed'
FROM conversations c JOIN users u ON u.id = c.user_id, s
WHERE u.username = 'heavy' AND c.id LIKE '00000000-0000-7000-8000-%';
COMMIT;
EOF
else
    psql -q "$PG_URL" -v ON_ERROR_STOP=1 <<EOF
SET search_path = $schema;
INSERT INTO conversations (id, user_id, title, started_at, last_message_at, message_count)
SELECT gen_random_uuid(), u.id, 'Samtal ' || g, now() - g * interval '1 minute',
       now() - g * interval '1 minute' + interval '10 seconds', 4
FROM users u, generate_series(1, $CONVERSATIONS) g WHERE u.username = 'heavy';
INSERT INTO messages (id, conversation_id, seq, role, content, created_at, request_id)
SELECT gen_random_uuid(), c.id, k, CASE k % 2 WHEN 1 THEN 'user' ELSE 'assistant' END,
       CASE k % 2 WHEN 1 THEN 'Hur blir vädret i Göteborg imorgon?'
                  ELSE 'Det blir sol och tolv grader i Göteborg imorgon.' END,
       c.started_at + k * interval '1 second', 'seed'
FROM conversations c JOIN users u ON u.id = c.user_id, generate_series(1, 4) k
WHERE u.username = 'heavy' AND c.title LIKE 'Samtal %';
ANALYZE;
EOF
fi

log "seeding user heavy: $MEMORIES memories through \"kom ihåg att …\""
facts=("min dotter heter Elsa" "jag är allergisk mot nötter" "bilen står på plan tre i garaget"
    "jag dricker kaffet utan mjölk" "reservnyckeln ligger i översta lådan" "min bror fyller år i mars"
    "jag jobbar hemifrån på fredagar" "jag parkerade på Drottninggatan" "Anna är vegetarian"
    "jag tar buss fyra till jobbet")
for i in $(seq 1 "$MEMORIES"); do
    chat heavy "Kom ihåg att ${facts[$(( (i - 1) % ${#facts[@]} ))]} ($i)."
done

counts() {
    if [ "$ENGINE" = sqlite ]; then
        sqlite3 "$run/data/alice.db" ".timeout 30000" \
            "SELECT u.username, (SELECT count(*) FROM conversations c WHERE c.user_id = u.id),
                    (SELECT count(*) FROM memories m WHERE m.user_id = u.id)
             FROM users u WHERE u.username <> 'admin' ORDER BY u.username;"
    else
        PGOPTIONS="-c search_path=$schema" psql -At "$PG_URL" -c \
            "SELECT u.username, (SELECT count(*) FROM conversations c WHERE c.user_id = u.id),
                    (SELECT count(*) FROM memories m WHERE m.user_id = u.id)
             FROM users u WHERE u.username <> 'admin' ORDER BY u.username;" | tr '|' ' '
    fi
}
log "seeded (user conversations memories): $(counts | grep '^heavy')"

case "$CORPUS" in
    plain)
        corpus="$run/corpus.jsonl"
        grep -viE 'kom ihåg|glöm|remember|forget' "$repo/crates/alice-bench/corpus/sv.jsonl" >"$corpus"
        corpus_args=(--corpus "$corpus") ;;
    builtin) corpus_args=() ;;
    *) corpus_args=(--corpus "$CORPUS") ;;
esac
bench() { # user duration report
    "$alice" bench --target "$base" --api-key "$key" --user "$1" --rate "$RATE" "${corpus_args[@]}" \
        --duration "$2" --seed 7 --quiet --report "$3" >"$3.txt" 2>&1
}
figure() { # report -> "ok p50 p99"
    python3 - "$1" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
lat = s["latency_ms"] or {}
nan = float("nan")
print(s["ok"], s["errors"], lat.get("p50", nan), lat.get("p99", nan))
EOF
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$alice_pid/stat"; }
ticks_per_s="$(getconf CLK_TCK)"

log "warming up (2s each)"
bench heavy 2s "$run/warm-heavy.json"
bench fresh-warm 2s "$run/warm-fresh.json"

log "side by side: heavy and fresh-side at $RATE req/s each for $DURATION"
bench heavy "$DURATION" "$run/side-heavy.json" &
side_heavy=$!
bench fresh-side "$DURATION" "$run/side-fresh.json" &
side_fresh=$!
wait "$side_heavy" "$side_fresh"

results="$run/results.txt"
{
    echo "engine $ENGINE, $RATE req/s per user, corpus $CORPUS, cache and Guardian off, simulator as ollama backend"
    echo "seeded: $(counts | grep '^heavy')  (user conversations memories)"
    echo
    echo "side by side, $DURATION at the same time:"
    printf '  %-12s %8s %7s %10s %10s\n' user ok errors "p50 ms" "p99 ms"
    for user in heavy fresh; do
        read -r ok errors p50 p99 <<<"$(figure "$run/side-$user.json")"
        printf '  %-12s %8s %7s %10.2f %10.2f\n' "$user" "$ok" "$errors" "$p50" "$p99"
    done
    echo
    echo "one after the other, $CPU_DURATION each: Alice's CPU per answered request"
    printf '  %-12s %8s %10s %10s %12s\n' user ok "p50 ms" "p99 ms" "CPU µs/req"
} >"$results"
# fresh, heavy, heavy, fresh: a machine whose load drifts during the four runs moves both
# users' figures alike.
round=0
for user in fresh-1 heavy heavy fresh-2; do
    round=$((round + 1))
    before="$(cpu_ticks)"
    bench "$user" "$CPU_DURATION" "$run/cpu-$user-$round.json"
    after="$(cpu_ticks)"
    read -r ok errors p50 p99 <<<"$(figure "$run/cpu-$user-$round.json")"
    us=$(( (after - before) * 1000000 / ticks_per_s / (ok > 0 ? ok : 1) ))
    printf '  %-12s %8s %10.2f %10.2f %12s\n' "$user" "$ok" "$p50" "$p99" "$us" >>"$results"
done
{
    echo
    echo "after the runs (user conversations memories):"
    counts | sed 's/^/  /'
} >>"$results"
cat "$results"
log "reports and logs in $run"
