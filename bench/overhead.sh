#!/usr/bin/env bash
# Gateway overhead of Alice against LiteLLM's proxy, side by side in one run:
#
#   bench/overhead.sh        (needs python3 with venv, PyPI for the first run, curl)
#
# Builds Alice (release), installs LiteLLM (bench/litellm/setup.sh), then starts on free
# 127.0.0.1 ports: the upstream simulator (answers at once), Alice in front of it and LiteLLM
# in front of the same simulator. At each rate it loads, with `alice bench` (open loop), the
# simulator directly, then Alice, then LiteLLM, non-streaming; then streams at STREAM_RATES
# with the simulator pacing tokens, for the time to first token and the gap between tokens.
# Reports go to target/overhead/; the table (overhead = gateway latency − direct latency at the
# same rate) is printed at the end and kept in target/overhead/table.md. Everything it starts,
# it stops. About 8 minutes on 2 cores when the machine is quiet.
#
# Settings (environment):
#   RATES          non-streaming rates, req/s        (10 25 50 100 500 1000 2000 5000)
#   STREAM_RATES   streaming rates, req/s            (100 1000; empty: no streaming)
#   DURATION       measured time per run             (10s), each after a WARMUP (2s) run
#   STREAM_TPS     simulator tokens/s when streaming (50, i.e. a token every 20 ms)
#   MAX_IN_FLIGHT  the bench's cap on open requests  (1024; arrivals beyond are dropped, counted)
#   TIMEOUT        the bench's per-request timeout   (10s), so runs against a stalled gateway end
#   LITELLM_WORKERS  uvicorn worker processes        (2, one per core)
#   QUIET_MAX      longest wait for a quiet machine before each run, seconds (180)
#   SKIP_LITELLM   1: do not start or load LiteLLM (0), for extra Alice-only rates
#   OUT            where reports and the table go      (target/overhead)
#   ALICE          the alice binary to measure         (target/release/alice, built first)
#
# A run waits for the machine to be quiet first: before anything starts, 1-minute load average
# under 0.8 and no rustc/cargo; before each run, other processes (outside this script's tree)
# using under 0.15 cores over the last 3 s and no rustc/cargo (the load average cannot be used
# between runs: it still holds this script's previous run). After QUIET_MAX seconds the run goes
# ahead and the table marks it. LiteLLM stops stepping up after the first rate where it fails
# badly (over 1 % of requests lost, or p99 over 1 s); higher rates show "not run".
set -euo pipefail

RATES="${RATES:-10 25 50 100 500 1000 2000 5000}"
STREAM_RATES="${STREAM_RATES-100 1000}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
STREAM_TPS="${STREAM_TPS:-50}"
MAX_IN_FLIGHT="${MAX_IN_FLIGHT:-1024}"
TIMEOUT="${TIMEOUT:-10s}"
LITELLM_WORKERS="${LITELLM_WORKERS:-2}"
QUIET_MAX="${QUIET_MAX:-180}"
SKIP_LITELLM="${SKIP_LITELLM:-0}"
MODEL="gpt-oss:20b"

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$repo/target/overhead}"
case "$out" in /*) ;; *) out="$repo/$out" ;; esac
alice="${ALICE:-$repo/target/release/alice}"
helper="$repo/bench/overhead_table.py"
unset ALICE_CONFIG

log() { printf '[overhead %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pids=()
cleanup() {
    local pid child
    for pid in "${pids[@]}"; do
        for child in $(pgrep -P "$pid" 2>/dev/null); do kill "$child" 2>/dev/null || true; done
        kill "$pid" 2>/dev/null || true
    done
    sleep 1
    for pid in "${pids[@]}"; do
        for child in $(pgrep -P "$pid" 2>/dev/null); do kill -9 "$child" 2>/dev/null || true; done
        kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${ALICE:-}" ]; then
    log "building Alice (release)"
    (cd "$repo" && cargo build --release)
fi
if [ "$SKIP_LITELLM" != 1 ]; then
    log "installing LiteLLM"
    litellm="$("$repo/bench/litellm/setup.sh" | tail -n 1)"
fi

rm -rf "$out"
mkdir -p "$out/alice" "$out/litellm" "$out/reports"

# Versions, for the record.
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "alice: $("$alice" --version 2>/dev/null || echo unknown), git $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [ "$SKIP_LITELLM" = 1 ] && echo "litellm: not run (SKIP_LITELLM=1)" ||
        echo "litellm: $("$repo/target/litellm-venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"), "/ uvicorn", m.version("uvicorn"))'), $LITELLM_WORKERS uvicorn workers"
    echo "python: $("$repo/target/litellm-venv/bin/python" --version 2>&1)"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo "settings: RATES=\"$RATES\" STREAM_RATES=\"$STREAM_RATES\" DURATION=$DURATION WARMUP=$WARMUP STREAM_TPS=$STREAM_TPS MAX_IN_FLIGHT=$MAX_IN_FLIGHT TIMEOUT=$TIMEOUT LITELLM_WORKERS=$LITELLM_WORKERS"
} > "$out/versions.txt"
cat "$out/versions.txt" >&2

# ---- a quiet machine --------------------------------------------------------------------------

compilers_running() { pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; }

log "waiting for a quiet machine (1-min load average < 0.8, no rustc/cargo; at most ${QUIET_MAX}s)"
waited=0
until ! compilers_running && awk '{exit !($1 < 0.8)}' /proc/loadavg; do
    if (( waited >= QUIET_MAX )); then log "machine still busy ($(cut -d' ' -f1-3 /proc/loadavg)); going ahead"; break; fi
    sleep 5; waited=$((waited + 5))
done
log "load average $(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$helper" monitor "$out" $$ &
pids+=($!)

wait_quiet() {
    local waited=0
    sleep 3
    until python3 "$helper" quiet "$out"; do
        if (( waited >= QUIET_MAX )); then log "other load still present; running anyway (marked in the table)"; return; fi
        sleep 2; waited=$((waited + 2))
    done
}

# ---- the servers --------------------------------------------------------------------------------

read -r sim_port alice_port litellm_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
sim="http://127.0.0.1:$sim_port"

wait_http() { # URL SECONDS NAME
    local i
    for ((i = 0; i < $2 * 10; i++)); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    log "$3 did not come up; see $out/$3.log"; exit 1
}

"$alice" upstream-sim --bind "127.0.0.1:$sim_port" > "$out/sim.log" 2>&1 &
pids+=($!)
wait_http "$sim/v1/models" 10 sim

# Alice: guardian off (its CPU trigger would shed load on a machine this busy), cache off (every
# request reaches the simulator), no system prompt (the simulator gets the same messages from
# both gateways), a limiter wide enough never to refuse, logs to a file at info, metrics on
# (always on in Alice).
(
    cd "$out/alice"
    ALICE_SERVER__BIND="127.0.0.1:$alice_port" \
    ALICE_DATABASE__URL="sqlite://$out/alice/alice.db" \
    ALICE_GUARDIAN__ENABLED=false \
    ALICE_CACHE__ENABLED=false \
    ALICE_CHAT__SYSTEM_PROMPT="" \
    ALICE_LOG__LEVEL=info \
    ALICE_LOG__STDOUT=false \
    ALICE_LOG__FILE="$out/alice/alice.ndjson" \
    ALICE_BACKENDS="[{name=\"sim\", kind=\"openai\", url=\"$sim/v1\", model=\"$MODEL\", max_concurrent=1024, queue_depth=4096, queue_timeout=\"10s\"}]" \
        exec "$alice" serve
) > "$out/alice.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$alice_port/ready" 20 alice

if [ "$SKIP_LITELLM" != 1 ]; then
    (
        cd "$out/litellm"
        SIM_API_BASE="$sim/v1" \
        LITELLM_LOCAL_MODEL_COST_MAP=True \
        LITELLM_TELEMETRY=False \
            exec "$litellm" --config "$repo/bench/litellm/config.yaml" --host 127.0.0.1 \
                --port "$litellm_port" --num_workers "$LITELLM_WORKERS" --telemetry False
    ) > "$out/litellm.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$litellm_port/health/liveliness" 120 litellm
fi
log "simulator $sim, Alice :$alice_port, LiteLLM :$litellm_port"

declare -A url=(
    [direct]="$sim/v1"
    [alice]="http://127.0.0.1:$alice_port/v1"
    [litellm]="http://127.0.0.1:$litellm_port/v1"
)

# One measured run: warm-up (report discarded), then DURATION at the rate.
run() { # MODE TARGET RATE
    local mode="$1" target="$2" rate="$3" stream=() key=() name="$1-$2-$3" start end
    [ "$mode" = stream ] && stream=(--stream)
    # Alice wants the admin key its first start wrote (an admin's key has no rate limits).
    [ "$target" = alice ] && key=(--api-key "$(cat "$out/alice/data/admin.key")")
    curl -sf -X DELETE "$sim/sim/requests" >/dev/null || true # the simulator's request log
    wait_quiet
    local args=(bench --api openai --target "${url[$target]}" --model "$MODEL" --rate "$rate"
        --seed 1 --max-in-flight "$MAX_IN_FLIGHT" --timeout "$TIMEOUT" --quiet "${stream[@]}" "${key[@]}")
    "$alice" "${args[@]}" --duration "$WARMUP" > /dev/null 2>&1 || true
    start="$(date +%s.%N)"
    "$alice" "${args[@]}" --duration "$DURATION" --report "$out/reports/$name.json" \
        > "$out/reports/$name.txt" 2>&1 || log "$name: alice bench exited with $?"
    end="$(date +%s.%N)"
    printf '{"mode":"%s","target":"%s","rate":%s,"start":%s,"end":%s,"report":"reports/%s.json"}\n' \
        "$mode" "$target" "$rate" "$start" "$end" "$name" >> "$out/runs.jsonl"
    log "$name: $(grep -E '^ +(answered|latency)' "$out/reports/$name.txt" | tr -s ' ' | tr '\n' ';')"
}

# ---- non-streaming ------------------------------------------------------------------------------

litellm_stopped=""
[ "$SKIP_LITELLM" = 1 ] && litellm_stopped=0
for rate in $RATES; do
    run plain direct "$rate"
    run plain alice "$rate"
    if [ -z "$litellm_stopped" ]; then
        run plain litellm "$rate"
        if python3 "$helper" failed "$out/reports/plain-litellm-$rate.json"; then
            litellm_stopped="$rate"
            log "LiteLLM failed badly at $rate req/s; no higher rate for it"
        fi
    fi
done

# ---- streaming ----------------------------------------------------------------------------------

curl -sf -X PUT "$sim/sim/faults" -H 'content-type: application/json' \
    -d "{\"tokens_per_second\": $STREAM_TPS}" >/dev/null
for rate in $STREAM_RATES; do
    run stream direct "$rate"
    run stream alice "$rate"
    if [ -z "$litellm_stopped" ] || (( rate < litellm_stopped )); then
        run stream litellm "$rate"
    fi
done

curl -sf "http://127.0.0.1:$alice_port/metrics" > "$out/alice-metrics.txt" || true
echo
cat "$out/versions.txt"
echo
python3 "$helper" table "$out"
