#!/usr/bin/env bash
# The latency brownout with its default settings: the simulator's time to first token goes from
# 200 ms to 3 s and back while four clients ask without a pause, and docs/benchmarks.md's
# table is printed (per 10 s: the level answers were served at, their tokens, their time to
# first token, and the latency brownout's own p95 and reason).
#
#   bench/latency-brownout.sh [slow-from-s] [slow-until-s] [end-s]     (defaults 30 90 180)
#
# Starts, on 127.0.0.1 only: the upstream simulator (answers of 1500 tokens, as fast as they can
# go) and `alice serve` in front of it (8 slots, so only the first token is slow, not the queue;
# the Guardian's CPU and RAM triggers switched off, so only latency moves the level); then the
# clients. BENCH_ALICE_BIN picks the binary (default target/release/alice, built when missing;
# not an ALICE_ variable, since Alice reads those as settings).
# Everything it starts, it stops.
set -euo pipefail
slow_from="${1:-30}"
slow_until="${2:-90}"
end="${3:-180}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
alice_bin="${BENCH_ALICE_BIN:-$repo/target/release/alice}"
[ -x "$alice_bin" ] || (cd "$repo" && cargo build --release)

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

sim=http://127.0.0.1:11498
printf '[faults]\nttft_ms = 200\nanswer_tokens = 1500\n' > "$work/sim.toml"
"$alice_bin" upstream-sim --bind 127.0.0.1:11498 --sim-config "$work/sim.toml" > "$work/sim.log" 2>&1 &
pids+=($!)
cd "$work"
ALICE_SERVER__BIND=127.0.0.1:8098 \
ALICE_BACKENDS="[{url=\"$sim\", model=\"gpt-oss:20b\", max_concurrent=8}]" \
ALICE_GUARDIAN__SOFT_CPU=1.5 ALICE_GUARDIAN__HARD_CPU=2.0 \
ALICE_GUARDIAN__SOFT_RAM=1.5 ALICE_GUARDIAN__HARD_RAM=2.0 \
ALICE_CACHE__ENABLED=false \
    "$alice_bin" serve > "$work/alice.ndjson" 2>&1 &
pids+=($!)
for _ in $(seq 600); do curl -sf http://127.0.0.1:8098/health >/dev/null && break; sleep 0.1; done
[ -s data/admin.key ] || { echo "alice did not start:" >&2; tail -5 "$work/alice.ndjson" >&2; exit 1; }

python3 "$repo/bench/latency_brownout.py" http://127.0.0.1:8098 "$(cat data/admin.key)" "$sim" \
    "$slow_from" "$slow_until" "$end"
echo
echo "the latency brownout's log lines:"
grep -h '"latency_brownout"' "$work/alice.ndjson" || true
