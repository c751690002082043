#!/usr/bin/env bash
# A soak of Alice's native API for a few named users at once:
#
#   bench/soak-users.sh                       (4 users × 50 req/s = 200 req/s, 10 minutes)
#   USERS=2 RATE=100 DURATION=2m bench/soak-users.sh
#
# Starts on 127.0.0.1 the upstream simulator as an `ollama` backend and Alice in front of it
# (SQLite, cache and Guardian off), then one `alice bench --soak` per user, all at the same
# time, with the built-in corpus: its dialogues continue conversations and store memories
# ("kom ihåg"), so every user's history grows through the run, which is the point. Prints each
# user's summary and, per sample interval, each user's p50/p99 and Alice's RSS, so a latency
# that climbs with the history shows as a rising column. Everything it starts, it stops.
#
# Settings (environment):
#   USERS          named users, soak-1 … soak-N            (4)
#   RATE           req/s per user                          (50)
#   DURATION       load time                               (10m)
#   INTERVAL       sample interval                         (60s)
#   COOLDOWN       sampling after the load                 (30s)
#   ALICE          the alice binary                        ($CARGO_TARGET_DIR or target, release)
#   OUT            reports and logs                        (target/soak-users)
set -euo pipefail

USERS="${USERS:-4}"
RATE="${RATE:-50}"
DURATION="${DURATION:-10m}"
INTERVAL="${INTERVAL:-60s}"
COOLDOWN="${COOLDOWN:-30s}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
alice="${ALICE:-${CARGO_TARGET_DIR:-$repo/target}/release/alice}"
out="${OUT:-$repo/target/soak-users}"
case "$out" in /*) ;; *) out="$repo/$out" ;; esac
unset ALICE_CONFIG

log() { printf '[soak-users %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

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

[ -x "$alice" ] || { log "no $alice: build with cargo build --release --no-default-features"; exit 1; }
rm -rf "$out"
mkdir -p "$out/data"
sim_port="$(free_port)"
alice_port="$(free_port)"
cat >"$out/alice.toml" <<EOF
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
[guardian]
enabled = false
data_dir = "$out/data"
[cache]
enabled = false
[log]
stdout = false
file = "$out/alice.ndjson"
EOF

"$alice" upstream-sim --bind "127.0.0.1:$sim_port" >"$out/sim.log" 2>&1 &
pids+=($!)
"$alice" --config "$out/alice.toml" serve >"$out/serve.log" 2>&1 &
alice_pid=$!
pids+=($alice_pid)
base="http://127.0.0.1:$alice_port"
for _ in $(seq 1 100); do
    curl -fs "$base/ready" >/dev/null 2>&1 && [ -s "$out/data/admin.key" ] && break
    sleep 0.2
done
curl -fs "$base/ready" >/dev/null || { log "Alice did not get ready; see $out/serve.log"; exit 1; }
key="$(cat "$out/data/admin.key")"

log "soaking: $USERS users × $RATE req/s for $DURATION (samples every $INTERVAL, cooldown $COOLDOWN)"
benches=()
for i in $(seq 1 "$USERS"); do
    "$alice" bench --target "$base" --api-key "$key" --user "soak-$i" --rate "$RATE" \
        --duration "$DURATION" --seed "$i" --quiet --soak --pid "$alice_pid" \
        --sample-interval "$INTERVAL" --cooldown "$COOLDOWN" \
        --report "$out/soak-$i.json" --plot "$out/soak-$i.svg" >"$out/soak-$i.txt" 2>&1 &
    benches+=($!)
done
status=0
for pid in "${benches[@]}"; do wait "$pid" || status=$?; done

for i in $(seq 1 "$USERS"); do
    echo "== soak-$i"
    grep -E '^  (sent|answered|latency)' "$out/soak-$i.txt" || cat "$out/soak-$i.txt"
done
python3 - "$out" "$USERS" <<'EOF'
import json, sys
out, users = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{out}/soak-{i}.json")) for i in range(1, users + 1)]
total_ok = sum(r["summary"]["ok"] for r in reports)
duration = max(r["summary"]["duration_s"] for r in reports)
print(f"all users: {total_ok} answered in {duration:.0f} s = {total_ok / duration:.1f} answers/s")
soak = reports[0]["soak"]
print(f"Alice RSS {soak['rss_start_mib']:.1f} MiB at the start, peak {soak['rss_peak_mib']:.1f}, "
      f"{soak['growth_mib_per_min']:.2f} MiB/min under load; open files {soak['fds_start']} -> "
      f"{soak['fds_peak']} peak")
print("per sample (load phase): t_s, RSS MiB, then p50/p99 ms of each user")
# The first sample is taken as the load starts, before any answer; the last may be repeated
# at the end of the load.
def load_samples(report):
    seen, kept = set(), []
    for s in report["soak"]["samples"]:
        if s["phase"] == "load" and s["latency_p50_ms"] is not None and s["t_s"] not in seen:
            seen.add(s["t_s"])
            kept.append(s)
    return kept
rows = zip(*[load_samples(r) for r in reports])
for samples in rows:
    cells = "  ".join(f"{s['latency_p50_ms']:6.2f}/{s['latency_p99_ms']:7.2f}"
                      for s in samples)
    print(f"  {samples[0]['t_s']:6.0f} {samples[0]['rss_mib']:7.1f}  {cells}")
EOF
sqlite3 "$out/data/alice.db" ".timeout 30000" \
    "SELECT 'history at the end: ' || u.username || ' ' ||
            (SELECT count(*) FROM conversations c WHERE c.user_id = u.id) || ' conversations, ' ||
            (SELECT count(*) FROM memories m WHERE m.user_id = u.id) || ' memories'
     FROM users u WHERE u.username LIKE 'soak-%' ORDER BY u.username;" || true
log "reports, plots and logs in $out"
exit "$status"
