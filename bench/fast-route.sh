#!/usr/bin/env bash
# Alice's fast route against the model's, side by side in one run:
#
#   bench/fast-route.sh
#
# Starts on 127.0.0.1 the upstream simulator as an `ollama` backend and Alice in front of it
# (the intent layer on, cache and Guardian off), drives `alice bench` with the built-in Swedish
# corpus at RATE req/s for DURATION (plain and then streamed), and prints the report, whose
# "intent" and "tool" rows are the requests Alice answered herself and "model" the ones that went
# to the simulator (whose own latency is part of those). Then the same with the backend gone
# (nothing listens at its address): the fast route still answers, the rest fail at once.
# Everything it starts, it stops.
#
# Settings (environment):
#   RATE       req/s                                  (100)
#   DURATION   each run                               (20s)
#   ALICE      the alice binary                       ($CARGO_TARGET_DIR or target, release)
#   BUILD      0: do not build first                  (1)
#   OUT        reports and logs                       (target/fast-route)
set -euo pipefail

RATE="${RATE:-100}"
DURATION="${DURATION:-20s}"
BUILD="${BUILD:-1}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
alice="${ALICE:-$target_dir/release/alice}"
out="${OUT:-$repo/target/fast-route}"
case "$out" in /*) ;; *) out="$repo/$out" ;; esac
unset ALICE_CONFIG

log() { printf '[fast-route %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
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

rm -rf "$out"
mkdir -p "$out/data"
sim_port="$(free_port)"
alice_port="$(free_port)"
cat >"$out/alice.toml" <<TOML
[server]
bind = "127.0.0.1:$alice_port"
[auth]
admin_key_file = "$out/data/admin.key"
[database]
url = "sqlite://$out/data/alice.db"
erasure_log = "$out/data/erasures.ndjson"
[[backends]]
name = "ollama"
kind = "ollama"
url = "http://127.0.0.1:$sim_port"
model = "gpt-oss:20b"
max_concurrent = 64
queue_depth = 256
[last_resort]
enabled = false
[guardian]
enabled = false
data_dir = "$out/data"
[cache]
enabled = false
[log]
stdout = false
file = "$out/alice.ndjson"
TOML

log "starting the simulator (127.0.0.1:$sim_port) and Alice (127.0.0.1:$alice_port)"
"$alice" upstream-sim --bind "127.0.0.1:$sim_port" >"$out/sim.log" 2>&1 &
sim_pid=$!
pids+=($sim_pid)
"$alice" --config "$out/alice.toml" serve >"$out/serve.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$alice_port"
for _ in $(seq 1 100); do
    curl -fs "$base/ready" >/dev/null 2>&1 && [ -s "$out/data/admin.key" ] && break
    sleep 0.2
done
curl -fs "$base/ready" >/dev/null || { log "Alice did not get ready; see $out/serve.log"; exit 1; }
export ALICE_BENCH_API_KEY="$(cat "$out/data/admin.key")"

bench() { # name, extra flags...
    local name="$1"
    shift
    log "alice bench: $name, $RATE req/s for $DURATION"
    "$alice" bench --target "$base" --user fast-route --rate "$RATE" --duration "$DURATION" \
        --seed 7 --quiet --report "$out/$name.json" "$@" | tee "$out/$name.txt"
}
bench plain
bench streamed --stream
kill "$sim_pid"
wait "$sim_pid" 2>/dev/null || true
bench backend-down || true
