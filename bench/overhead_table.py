#!/usr/bin/env python3
"""Helpers of bench/overhead.sh: a CPU monitor, the run checks, and the overhead table.

    overhead_table.py monitor OUTDIR ROOTPID   every second, append to OUTDIR/monitor.tsv the CPU
                                               used by processes outside ROOTPID's tree ("other
                                               load", in cores) and how many rustc/cargo run
    overhead_table.py quiet OUTDIR             exit 0 when the last 3 samples show other load
                                               under 0.15 cores and no rustc/cargo
    overhead_table.py failed REPORT            exit 0 when a run failed badly: over 1 % of the
                                               arrivals lost (failed, dropped or unfinished),
                                               or p99 over 1 s
    overhead_table.py table OUTDIR             print the markdown tables (also OUTDIR/table.md)

Overhead = the gateway's latency percentile minus the simulator's own (measured directly, at
the same rate, in the same run). Standard library only.
"""

import json
import os
import sys
import time

QUIET_CORES = 0.15
FRONTIER_P99_MS = 5.0
# A gateway "fails badly" (overhead.sh stops raising its rate) past either of these.
FAILED_LOST_SHARE = 0.01
FAILED_P99_MS = 1000.0
COMPILERS = {"rustc", "cargo"}
GATEWAYS = [("alice", "Alice"), ("litellm", "LiteLLM")]


# ---- monitor ---------------------------------------------------------------------------------

def _busy_jiffies():
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system = (int(x) for x in fields[:3])
    return user + nice + system


def _processes():
    """pid -> (ppid, comm, own + reaped children's CPU jiffies)."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        ppid = int(rest[1])
        cpu = sum(int(x) for x in rest[11:15])  # utime stime cutime cstime
        procs[int(name)] = (ppid, comm, cpu)
    return procs


def _tree(procs, root):
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = set(), [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
    return seen


def monitor(outdir, root):
    hz = os.sysconf("SC_CLK_TCK")
    path = os.path.join(outdir, "monitor.tsv")
    last_busy, last_ours, last_t = None, None, None
    while os.path.exists(f"/proc/{root}"):
        now = time.time()
        busy = _busy_jiffies()
        procs = _processes()
        ours = _tree(procs, root)
        ours_cpu = sum(procs[p][2] for p in ours if p in procs)
        compilers = sum(1 for p, (_, comm, _) in procs.items() if comm in COMPILERS and p not in ours)
        if last_busy is not None:
            elapsed = now - last_t
            other = max(0.0, ((busy - last_busy) - (ours_cpu - last_ours)) / hz / elapsed)
            with open(path, "a") as f:
                f.write(f"{now:.3f}\t{other:.3f}\t{compilers}\n")
        last_busy, last_ours, last_t = busy, ours_cpu, now
        time.sleep(1.0)


def _samples(outdir):
    try:
        with open(os.path.join(outdir, "monitor.tsv")) as f:
            return [(float(t), float(o), int(c)) for t, o, c in (line.split() for line in f)]
    except FileNotFoundError:
        return []


def quiet(outdir):
    last = _samples(outdir)[-3:]
    ok = len(last) == 3 and all(o < QUIET_CORES and c == 0 for _, o, c in last)
    return 0 if ok else 1


# ---- reports ---------------------------------------------------------------------------------

def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def failed(path):
    report = _load(path)
    if report is None:
        return 0
    s = report["summary"]
    scheduled = max(1, s["scheduled"])
    lost = (s["errors"] + s["dropped"] + s["unfinished"]) / scheduled
    p99 = (s["latency_ms"] or {}).get("p99")
    return 0 if lost > FAILED_LOST_SHARE or p99 is None or p99 > FAILED_P99_MS else 1


def _runs(outdir):
    runs = {}
    try:
        with open(os.path.join(outdir, "runs.jsonl")) as f:
            for line in f:
                run = json.loads(line)
                run["report_data"] = _load(os.path.join(outdir, run["report"]))
                runs[(run["mode"], run["target"], run["rate"])] = run
    except FileNotFoundError:
        pass
    return runs


def _other_load(samples, run):
    inside = [(o, c) for t, o, c in samples if run["start"] <= t <= run["end"] + 1]
    if not inside:
        return 0.0, 0
    return sum(o for o, _ in inside) / len(inside), max(c for _, c in inside)


def _ms(x):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x / 1000:.2f} s"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _signed(x):
    if x is None:
        return "–"
    text = _ms(x)
    return text if x < 0 else "+" + text


def _pcts(hist, keys=("p50", "p99", "p999")):
    if not hist:
        return [None] * len(keys)
    return [hist.get(k) for k in keys]


def _lost(summary):
    parts = []
    if summary["errors"]:
        kinds = ", ".join(f"{k} {v['count']}" for k, v in sorted(summary["errors_by_kind"].items()))
        parts.append(f"{summary['errors']} errors ({kinds})")
    if summary["dropped"]:
        parts.append(f"{summary['dropped']} dropped")
    if summary["unfinished"]:
        parts.append(f"{summary['unfinished']} unfinished")
    return "; ".join(parts) or "0"


def _minus(values, bases):
    """Element by element values − bases; None where either is missing."""
    return [v - b if v is not None and b is not None else None for v, b in zip(values, bases)]


def _fmt3(values):
    return " / ".join(_ms(v) for v in values)


def _fmt3s(values):
    return " / ".join(_signed(v) for v in values)


def _sustains(run, direct):
    """(passes the frontier test, served every request, why it failed)."""
    if run is None or run["report_data"] is None or direct is None or direct["report_data"] is None:
        return False, False, "not run"
    s, d = run["report_data"]["summary"], direct["report_data"]["summary"]
    clean = s["errors"] == 0 and s["dropped"] == 0 and s["unfinished"] == 0
    if s["latency_ms"] is None or d["latency_ms"] is None:
        return False, clean, "no answers"
    over = s["latency_ms"]["p99"] - d["latency_ms"]["p99"]
    why = []
    if over >= FRONTIER_P99_MS:
        # _ms writes seconds with their unit and milliseconds bare.
        why.append(f"p99 overhead {_signed(over)}" + ("" if abs(over) >= 1000 else " ms"))
    if not clean:
        why.append("lost: " + _lost(s))
    return not why, clean, " and ".join(why)


def table(outdir):
    runs = _runs(outdir)
    samples = _samples(outdir)
    lines = []
    out = lines.append

    rates = sorted({rate for (mode, _, rate) in runs if mode == "plain"})
    marks = []

    def note(run):
        other, compilers = _other_load(samples, run)
        if other >= QUIET_CORES or compilers:
            marks.append(
                f"{run['target']} at {run['rate']} req/s ({run['mode']}): other load "
                f"{other:.2f} cores on average{', rustc/cargo running' if compilers else ''}"
            )
            return " †"
        return ""

    out("Non-streaming, latency in ms as p50 / p99 / p99.9 (overhead = gateway − direct at the same rate):")
    out("")
    out("| rate (req/s) | direct | Alice | Alice overhead | Alice: answered/s; lost | LiteLLM | LiteLLM overhead | LiteLLM: answered/s; lost |")
    out("|---|---|---|---|---|---|---|---|")
    for rate in rates:
        direct = runs.get(("plain", "direct", rate))
        cells = [f"{rate:,}"]
        if direct and direct["report_data"]:
            d = direct["report_data"]["summary"]
            dp = _pcts(d["latency_ms"])
            extra = "" if _lost(d) == "0" else f" (lost: {_lost(d)})"
            cells.append(_fmt3(dp) + extra + note(direct))
        else:
            dp = [None] * 3
            cells.append("not run")
        for key, _ in GATEWAYS:
            run = runs.get(("plain", key, rate))
            if run is None or run["report_data"] is None:
                cells += ["not run", "", ""]
                continue
            s = run["report_data"]["summary"]
            gp = _pcts(s["latency_ms"])
            cells.append(_fmt3(gp) + note(run))
            cells.append(_fmt3s(_minus(gp, dp)))
            cells.append(f"{s['ok_rate']:.1f}; {_lost(s)}")
        out("| " + " | ".join(cells) + " |")
    out("")

    out(f"Frontier: the highest rate at which a gateway, and every lower rate tested, had p99 overhead "
        f"under {FRONTIER_P99_MS:g} ms and no error, drop or unfinished request:")
    out("")
    frontier, served = {}, {}
    for key, name in GATEWAYS:
        best, broke, clean_best, clean_broke = None, None, None, False
        for rate in rates:
            ok, clean, why = _sustains(runs.get(("plain", key, rate)), runs.get(("plain", "direct", rate)))
            if why == "not run":
                continue
            if broke is None:
                if ok:
                    best = rate
                else:
                    broke = (rate, why)
            if not clean_broke:
                if clean:
                    clean_best = rate
                else:
                    clean_broke = True
        frontier[key], served[key] = best, clean_best
        text = f"- {name}: " + ("none of the rates tested" if best is None else f"{best:,} req/s")
        if broke:
            text += f" (at {broke[0]:,} req/s: {broke[1]})"
        elif best == rates[-1]:
            text += " (the highest rate tested)"
        if clean_best is not None:
            text += f"; every request answered, whatever the latency, up to {clean_best:,} req/s"
        out(text)
    if frontier.get("alice") and frontier.get("litellm"):
        out(f"- ratio of the frontiers: {frontier['alice'] / frontier['litellm']:.0f}×")
    if served.get("alice") and served.get("litellm"):
        out(f"- ratio of the highest rates with every request answered: "
            f"{served['alice'] / served['litellm']:.0f}×")
    out("")

    stream_rates = sorted({rate for (mode, _, rate) in runs if mode == "stream"})
    if stream_rates:
        out("Streaming, in ms as p50 / p99 (added = gateway − direct at the same rate):")
        out("")
        out("| rate (req/s) | target | time to first token | added TTFT | gap between tokens | added gap (p50 / p99 / mean) | answered/s; lost |")
        out("|---|---|---|---|---|---|---|")
        for rate in stream_rates:
            direct = runs.get(("stream", "direct", rate))
            dd = direct["report_data"]["summary"] if direct and direct["report_data"] else None
            for key, name in [("direct", "direct")] + GATEWAYS:
                run = runs.get(("stream", key, rate))
                if run is None or run["report_data"] is None:
                    if key != "direct":
                        out(f"| {rate:,} | {name} | not run | | | | |")
                    continue
                s = run["report_data"]["summary"]
                t = _pcts(s["ttft_ms"], ("p50", "p99"))
                g = _pcts(s["inter_token_ms"], ("p50", "p99", "mean"))
                if key == "direct" or dd is None:
                    at, ag = "", ""
                else:
                    dt = _pcts(dd["ttft_ms"], ("p50", "p99"))
                    dg = _pcts(dd["inter_token_ms"], ("p50", "p99", "mean"))
                    at, ag = _fmt3s(_minus(t, dt)), _fmt3s(_minus(g, dg))
                out(f"| {rate:,} | {name}{note(run)} | {_fmt3(t)} | {at} | {_fmt3(g[:2])} | {ag} | "
                    f"{s['ok_rate']:.1f}; {_lost(s)} |")
        out("")

    if marks:
        out("† the run overlapped other load on the machine: " + "; ".join(marks) + ".")
    else:
        out("No run overlapped other load (other processes under "
            f"{QUIET_CORES} cores on average, no rustc/cargo, during every measured run).")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(text + "\n")
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    command, arg = argv[1], argv[2]
    if command == "monitor":
        monitor(arg, int(argv[3]))
        return 0
    if command == "quiet":
        return quiet(arg)
    if command == "failed":
        return failed(arg)
    if command == "table":
        return table(arg)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
