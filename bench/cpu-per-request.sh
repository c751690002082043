#!/usr/bin/env bash
# What one request costs Alice in CPU, on three paths, in figures that do not move with the
# machine's other load:
#
#   bench/cpu-per-request.sh        (needs curl, python3; valgrind for the instruction counts)
#
# Starts on 127.0.0.1 the upstream simulator (answers at once) and Alice in front of it as an
# `openai` backend, with the Guardian off, no system prompt, logs on (NDJSON to a file at info)
# and metrics on, as bench/overhead.sh does. Then, for each path:
#
#   v1      POST /v1/chat/completions, cache off: the stateless proxy path;
#   native  POST /api/chat, cache off, a new conversation per request (the corpus's single
#           questions without memory commands): memory recall, the model, the stored turn;
#   hit     POST /v1/chat/completions, cache on, one cacheable question asked again and again.
#
# 1. CPU µs per request: `alice bench` at the path's rate for DURATION (after a WARMUP run),
#    Alice's utime+stime from /proc/PID/stat before and after, over the answered requests.
#    CPU time, unlike latency, hardly changes with what else runs on the machine.
# 2. Instructions per request: a second Alice under `valgrind --tool=callgrind`, collecting only
#    while exactly CALLGRIND_REQUESTS requests of the path are sent (and answered); the total
#    over the requests. Instruction counts repeat to a fraction of a percent for the same binary
#    and inputs, whatever the machine does, so they show a change of a few percent that CPU time
#    cannot. The callgrind files stay in OUT, and the top functions by own cost are printed
#    (`callgrind_annotate OUT/callgrind-PATH.out` shows the rest).
#
# Settings (environment):
#   PATHS              which paths                              (v1 native hit)
#   V1_RATE            req/s for v1                             (2000)
#   NATIVE_RATE        req/s for native                         (1000)
#   HIT_RATE           req/s for hit                            (2000)
#   DURATION           each measured run                        (10s), after WARMUP (2s)
#   CALLGRIND          0: skip the instruction counts           (1)
#   CALLGRIND_REQUESTS requests per callgrind run               (1000)
#   CALLGRIND_RATE     req/s under callgrind                    (50)
#   TOP                functions listed per callgrind profile   (25)
#   ALICE              the alice binary                         (target/release/alice)
#   BUILD              0: do not build first                    (1)
#   OUT                reports, logs, callgrind files           (target/cpu-per-request)
set -euo pipefail

PATHS="${PATHS:-v1 native hit}"
V1_RATE="${V1_RATE:-2000}"
NATIVE_RATE="${NATIVE_RATE:-1000}"
HIT_RATE="${HIT_RATE:-2000}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CALLGRIND="${CALLGRIND:-1}"
CALLGRIND_REQUESTS="${CALLGRIND_REQUESTS:-1000}"
CALLGRIND_RATE="${CALLGRIND_RATE:-50}"
TOP="${TOP:-25}"
BUILD="${BUILD:-1}"
MODEL="gpt-oss:20b"

repo="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
alice="${ALICE:-$target_dir/release/alice}"
out="${OUT:-$repo/target/cpu-per-request}"
case "$out" in /*) ;; *) out="$repo/$out" ;; esac
unset ALICE_CONFIG

log() { printf '[cpu-per-request %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

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
    log "building Alice (release)"
    (cd "$repo" && cargo build --release)
fi
if [ "$CALLGRIND" = 1 ] && ! command -v valgrind >/dev/null; then
    log "valgrind is not installed: no instruction counts (CALLGRIND=0 to silence this)"
    CALLGRIND=0
fi

rm -rf "$out"
mkdir -p "$out/reports"
sim_port="$(free_port)"
sim="http://127.0.0.1:$sim_port"
"$alice" upstream-sim --bind "127.0.0.1:$sim_port" >"$out/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "$sim/v1/models" >/dev/null 2>&1 && break; sleep 0.1; done

# The requests: the built-in corpus's single questions without memory commands (each asked in
# a conversation of its own), and for cache hits one question the cache may share.
grep '"kind":"single"' "$repo/crates/alice-bench/corpus/sv.jsonl" |
    grep -viE 'kom ihåg|glöm|remember|forget' >"$out/singles.jsonl"
echo '{"kind":"single","category":"facts","messages":["Vad är Sveriges huvudstad?"]}' >"$out/hit.jsonl"

# Starts Alice in $1 (a directory of its own), with the cache on or off ($2), under the
# command prefix in the remaining arguments (none, or valgrind's). Sets alice_pid and base.
start_alice() {
    local dir="$1" cache="$2" port
    shift 2
    port="$(free_port)"
    mkdir -p "$dir"
    (
        cd "$dir"
        ALICE_SERVER__BIND="127.0.0.1:$port" \
        ALICE_DATABASE__URL="sqlite://$dir/alice.db" \
        ALICE_GUARDIAN__ENABLED=false \
        ALICE_CACHE__ENABLED="$cache" \
        ALICE_CHAT__SYSTEM_PROMPT="" \
        ALICE_LOG__LEVEL=info \
        ALICE_LOG__STDOUT=false \
        ALICE_LOG__FILE="$dir/alice.ndjson" \
        ALICE_BACKENDS="[{name=\"sim\", kind=\"openai\", url=\"$sim/v1\", model=\"$MODEL\", max_concurrent=1024, queue_depth=4096, queue_timeout=\"10s\"}]" \
            exec "$@" "$alice" serve
    ) >"$dir/serve.log" 2>&1 &
    alice_pid=$!
    pids+=($alice_pid)
    base="http://127.0.0.1:$port"
    for _ in $(seq 1 600); do
        curl -fs "$base/ready" >/dev/null 2>&1 && [ -s "$dir/data/admin.key" ] && return 0
        sleep 0.2
    done
    log "Alice did not get ready; see $dir/serve.log"
    exit 1
}

# alice bench for path $1 at rate $2 for $3, report to $4, against $base with $key.
bench() {
    local path="$1" rate="$2" duration="$3" report="$4" args
    case "$path" in
        v1) args=(--api openai --target "$base/v1" --model "$MODEL" --corpus "$out/singles.jsonl") ;;
        native) args=(--api alice --target "$base" --corpus "$out/singles.jsonl") ;;
        hit) args=(--api openai --target "$base/v1" --model "$MODEL" --corpus "$out/hit.jsonl") ;;
    esac
    "$alice" bench "${args[@]}" --api-key "$key" --rate "$rate" --duration "$duration" --seed 1 \
        --max-in-flight 1024 --timeout 30s --quiet --report "$report" >"$report.txt" 2>&1 ||
        log "$path: alice bench exited with $?"
}
answered() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["ok"])' "$1"; }
latency() { # report -> "p50 p99" in ms
    python3 - "$1" <<'EOF'
import json, sys
lat = json.load(open(sys.argv[1]))["summary"]["latency_ms"] or {}
print("%.2f %.2f" % (lat.get("p50", float("nan")), lat.get("p99", float("nan"))))
EOF
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$alice_pid/stat"; }
ticks_per_s="$(getconf CLK_TCK)"
rate_of() { case "$1" in v1) echo "$V1_RATE" ;; native) echo "$NATIVE_RATE" ;; hit) echo "$HIT_RATE" ;; esac; }
cache_of() { [ "$1" = hit ] && echo true || echo false; }

results="$out/results.txt"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    printf '%-7s %7s %9s %10s %10s %13s %15s\n' path "req/s" answered "p50 ms" "p99 ms" "CPU µs/req" "instr./req"
} >"$results"

for path in $PATHS; do
    rate="$(rate_of "$path")"
    log "$path: Alice (cache $(cache_of "$path")) at $rate req/s"
    start_alice "$out/$path" "$(cache_of "$path")"
    key="$(cat "$out/$path/data/admin.key")"
    bench "$path" "$rate" "$WARMUP" "$out/reports/$path-warmup.json"
    before="$(cpu_ticks)"
    bench "$path" "$rate" "$DURATION" "$out/reports/$path.json"
    after="$(cpu_ticks)"
    ok="$(answered "$out/reports/$path.json")"
    read -r p50 p99 <<<"$(latency "$out/reports/$path.json")"
    cpu_us=$(( (after - before) * 1000000 / ticks_per_s / (ok > 0 ? ok : 1) ))
    kill "$alice_pid"
    wait "$alice_pid" 2>/dev/null || true

    instructions="-"
    if [ "$CALLGRIND" = 1 ]; then
        log "$path: $CALLGRIND_REQUESTS requests under callgrind at $CALLGRIND_RATE req/s"
        callgrind_out="$out/callgrind-$path.out"
        start_alice "$out/$path-callgrind" "$(cache_of "$path")" \
            valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$callgrind_out"
        key="$(cat "$out/$path-callgrind/data/admin.key")"
        # A warm-up outside the count: valgrind translates the code the requests run, and the
        # first requests fill pools, caches and the cache tier. Then the counters start at zero.
        callgrind_control -i on "$alice_pid" >/dev/null 2>&1
        bench "$path" "$CALLGRIND_RATE" 4s "$out/reports/$path-callgrind-warmup.json"
        callgrind_control -z "$alice_pid" >/dev/null 2>&1
        seconds="$(python3 -c "print($CALLGRIND_REQUESTS / $CALLGRIND_RATE)")"
        bench "$path" "$CALLGRIND_RATE" "${seconds}s" "$out/reports/$path-callgrind.json"
        callgrind_control -i off "$alice_pid" >/dev/null 2>&1
        kill "$alice_pid"
        wait "$alice_pid" 2>/dev/null || true
        counted="$(answered "$out/reports/$path-callgrind.json")"
        # The file's `totals:` line (its `summary:` is wrong after a zeroing in valgrind 3.19).
        total="$(awk '/^totals:/ {print $2}' "$callgrind_out")"
        if [[ "$total" =~ ^[0-9]+$ ]] && [ "$counted" -gt 0 ]; then
            instructions=$(( total / counted ))
        fi
        {
            echo "callgrind, $path: $counted requests answered of $CALLGRIND_REQUESTS, $total instructions"
            callgrind_annotate --threshold=100 "$callgrind_out" 2>/dev/null |
                grep -E '^ *[0-9,]+ \( *[0-9.]+%\) ' | grep -v 'PROGRAM TOTALS' |
                sed -E "s/^ *([0-9,]+) \( *[0-9.]+%\)/\1/; s/ \[[^]]*\]\$//" | head -n "$TOP" || true
            echo
        } >"$out/profile-$path.txt"
    fi
    printf '%-7s %7s %9s %10s %10s %13s %15s\n' "$path" "$rate" "$ok" "$p50" "$p99" "$cpu_us" "$instructions" >>"$results"
done

cat "$results"
for path in $PATHS; do
    [ -f "$out/profile-$path.txt" ] && cat "$out/profile-$path.txt"
done
log "reports, logs and callgrind files in $out"
