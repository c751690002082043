#!/usr/bin/env bash
# Overloads Alice at ten times a backend's concurrency limit and samples Alice's memory, to see
# that it stays bounded. Until `alice bench` exists (issue 8), this is how docs/benchmarks.md's
# overload memory figures are made.
#
#   bench/overload-rss.sh [seconds] [per-client rate]    (needs `hey`: apt-get install hey)
#
# seconds defaults to 60. With a per-client rate (requests/s), the 30 clients are paced: 30 at
# 1/s offer ten times the ~3 answers/s the backend can give. Without one they resend as soon as
# an answer (or an instant 503) arrives: a flood that measures the cost of refusing.
#
# Starts, on 127.0.0.1 only: the upstream simulator (answers take ~1 s: 200 ms to the first
# token, 15 tokens/s) and a release `alice serve` in front of it with 3 slots and 6 queue places;
# then 30 concurrent clients for the given time. Everything it starts, it stops.
set -euo pipefail
seconds="${1:-60}"
rate="${2:-0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
alice_bin="$repo/target/release/alice"
command -v hey >/dev/null || { echo "needs hey: apt-get install hey" >&2; exit 1; }
[ -x "$alice_bin" ] || (cd "$repo" && cargo build --release)

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

printf '[faults]\nttft_ms = 200\ntokens_per_second = 15.0\n' > "$work/sim.toml"
"$alice_bin" upstream-sim --bind 127.0.0.1:11499 --sim-config "$work/sim.toml" > "$work/sim.log" 2>&1 &
pids+=($!)
cd "$work"
ALICE_SERVER__BIND=127.0.0.1:8099 \
ALICE_BACKENDS='[{url="http://127.0.0.1:11499", max_concurrent=3, queue_depth=6, queue_timeout="2s"}]' \
ALICE_DEADLINES__CHAT=3s \
ALICE_LOG__STDOUT=false \
    "$alice_bin" serve &
alice=$!
pids+=("$alice")
for _ in $(seq 50); do curl -sf http://127.0.0.1:8099/health >/dev/null && break; sleep 0.1; done

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$alice/status"; }
echo "alice RSS before load: $(rss_kib) KiB"
hey -z "${seconds}s" -c 30 -q "$rate" -m POST -T application/json -d '{"message":"Hej Alice, hur mår du?"}' \
    -H "Authorization: Bearer $(cat data/admin.key)" \
    http://127.0.0.1:8099/api/chat > "$work/hey.txt" &
load=$!
pids+=("$load")
peak=0
while kill -0 "$load" 2>/dev/null; do
    rss="$(rss_kib)"
    (( rss > peak )) && peak="$rss"
    echo "t=$(date +%s) alice RSS ${rss} KiB"
    sleep 5
done
echo "alice RSS after load: $(rss_kib) KiB (peak ${peak} KiB)"
grep -A8 "Status code distribution" "$work/hey.txt" || true
grep -E "Requests/sec|Slowest|Fastest|Average" "$work/hey.txt" || true
