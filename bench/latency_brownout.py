"""Drives bench/latency-brownout.sh's run: four clients ask Alice without a pause, the
simulator's time to first token is raised and lowered at the given seconds, and a table per
10 s is printed (Markdown, for docs/benchmarks.md).

    python3 latency_brownout.py ALICE_URL API_KEY SIM_URL SLOW_FROM SLOW_UNTIL END
"""

import json
import sys
import threading
import time
import urllib.request

CLIENTS = 4
BUCKET_S = 10
LEVELS = ["NONE", "LIGHT", "MODERATE", "HEAVY", "EMERGENCY"]

alice, key, sim = sys.argv[1], sys.argv[2], sys.argv[3]
slow_from, slow_until, end = (float(a) for a in sys.argv[4:7])
start = time.monotonic()
answers = []  # (t received, level, completion tokens, ttft ms)
statuses = []  # (t, latency level, reason, ttft p95 ms)
lock = threading.Lock()


def now():
    return time.monotonic() - start


def call(method, url, body=None, auth=True):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if auth:
        request.add_header("authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def client(number):
    asked = 0
    while now() < end:
        asked += 1
        sent = now()
        try:
            reply = call("POST", f"{alice}/api/chat", {"message": f"Fråga {number}-{asked}"})
        except Exception as error:  # an error is a figure too
            with lock:
                answers.append((sent, f"error: {error}", 0, 0))
            continue
        with lock:
            answers.append(
                (sent, reply["brownout_level"], reply["completion_tokens"], reply["ttft_ms"])
            )


def faults(ttft_ms):
    call("PUT", f"{sim}/sim/faults", {"ttft_ms": ttft_ms, "answer_tokens": 1500}, auth=False)


threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
for thread in threads:
    thread.start()
phase = "fast"
while now() < end:
    if phase == "fast" and slow_from <= now() < slow_until:
        faults(3000)
        phase = "slow"
    elif phase == "slow" and now() >= slow_until:
        faults(200)
        phase = "fast again"
    status = call("GET", f"{alice}/api/guardian/status")["latency_brownout"]
    statuses.append((now(), status["level"], status["reason"], status["ttft_p95_ms"]))
    time.sleep(1)
for thread in threads:
    thread.join()

print(f"simulator ttft 200 ms, 3000 ms from {slow_from:.0f} s to {slow_until:.0f} s\n")
print("| s | sim ttft | answers | served at | tokens (mean) | ttft p95 ms | latency level at the end | its ttft p95 ms |")
print("|---|---|---|---|---|---|---|---|")
for bucket in range(0, int(end), BUCKET_S):
    inside = [a for a in answers if bucket <= a[0] < bucket + BUCKET_S]
    if not inside:
        continue
    levels = sorted({a[1] for a in inside}, key=lambda l: LEVELS.index(l) if l in LEVELS else 9)
    tokens = sum(a[2] for a in inside) / len(inside)
    ttfts = sorted(a[3] for a in inside)
    p95 = ttfts[max(0, -(-len(ttfts) * 95 // 100) - 1)]
    seen = [s for s in statuses if s[0] < bucket + BUCKET_S]
    last = seen[-1] if seen else (0, "?", "", None)
    sim_ttft = 3000 if slow_from <= bucket < slow_until else 200
    print(
        f"| {bucket}-{bucket + BUCKET_S} | {sim_ttft} | {len(inside)} | {', '.join(levels)} "
        f"| {tokens:.0f} | {p95} | {last[1]} | {last[3]} |"
    )
print()
previous = None
for t, level, reason, _ in statuses:
    if level != previous:
        print(f"{t:6.1f} s  latency level {level}  ({reason})")
        previous = level
