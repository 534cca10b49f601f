"""Where bench/chat_bench.py's slowest messages spent their time. Not part of the product.

Always: the latency over the run in 5-second windows (is the tail clustered in time?) and the
10 slowest messages with their send offsets. With --trace (bench/traced_asgi.py's records, one
clock with the client): each message split into
    ingress  sent by the client -> post_line asked for on the server (socket, frame, loop);
    queue    asked for -> a database thread took it (the worker's one thread_sensitive thread
             is busy with other calls);
    run      post_line itself (SQL, COMMIT, the broadcast after commit, the pool checkout);
    egress   post_line returned -> the agent's socket had it (Redis, the agent's consumer);
averaged over all messages, the slowest 5 % and the slowest 1 %; and what else ran on the
servers during the phase: sync calls by function, collections, event-loop lag.
"""

import json
import statistics
from collections import defaultdict
from pathlib import Path


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def _load(trace: Path) -> list[dict]:
    records = []
    for path in sorted(trace.glob("*.jsonl")):
        pid = int(path.stem)
        for line in path.read_text().splitlines():
            with_pid = json.loads(line)
            with_pid["pid"] = pid
            records.append(with_pid)
    return records


# The sync calls that store a line: the console's post_line, the visitor's post_visitor_line.
POSTS = {"post_line", "post_visitor_line"}


def explain_tail(
    sent: dict[str, float], arrived: dict[str, float], first_send: float, trace: Path | None
) -> None:
    latency = {cid: (arrived[cid] - sent[cid]) * 1000 for cid in arrived}
    if not latency:
        return
    print("  latency by send time (5 s windows):")
    windows: dict[int, list[float]] = defaultdict(list)
    for cid, ms in latency.items():
        windows[int((sent[cid] - first_send) // 5)].append(ms)
    for window in sorted(windows):
        values = windows[window]
        print(
            f"    {window * 5:3d}-{window * 5 + 5:<3d}s  n {len(values):4d}  "
            f"p50 {_pct(values, 0.5):6.1f}  p95 {_pct(values, 0.95):6.1f}  "
            f"max {max(values):7.1f} ms"
        )
    slowest = sorted(latency, key=latency.__getitem__, reverse=True)
    if trace is None:
        print("  slowest 10: " + ", ".join(
            f"{latency[c]:.0f} ms at {sent[c] - first_send:.1f}s" for c in slowest[:10]
        ))  # fmt: skip
        return

    records = _load(trace)
    end = max(arrived.values())
    calls = [r for r in records if r["k"] == "call" and first_send <= r["queued"] <= end]
    posts = {r["client_id"]: r for r in calls if r["fn"] in POSTS and r["client_id"]}
    gcs = [r for r in records if r["k"] == "gc" and first_send <= r["t0"] <= end]
    lags = [r for r in records if r["k"] == "lag" and first_send <= r["t0"] <= end]

    def parts(cid: str) -> dict[str, float] | None:
        post = posts.get(cid)
        if post is None:
            return None
        return {
            "ingress": (post["queued"] - sent[cid]) * 1000,
            "queue": (post["start"] - post["queued"]) * 1000,
            "run": (post["end"] - post["start"]) * 1000,
            "sql": post["sql_ms"],
            "commit": post["commit_ms"],
            "egress": (arrived[cid] - post["end"]) * 1000,
        }

    def overlapping(cid: str) -> str:
        t0, t1 = sent[cid], arrived[cid]
        gc_ms = sum((g["t1"] - g["t0"]) * 1000 for g in gcs if g["t1"] > t0 and g["t0"] < t1)
        lag_ms = max((g["ms"] for g in lags if t0 <= g["t0"] <= t1), default=0.0)
        busy = [
            c["fn"]
            for c in calls
            if c["sensitive"] and c["start"] < t1 and c["end"] > t0 and c["client_id"] != cid
        ]
        kinds = defaultdict(int)
        for fn in busy:
            kinds[fn] += 1
        others = ", ".join(f"{fn} x{n}" for fn, n in sorted(kinds.items())) or "-"
        return f"gc {gc_ms:5.1f} ms, loop late {lag_ms:5.1f} ms; other db calls: {others}"

    print(f"  where the time went ({len(posts)} post_line calls traced), mean ms:")
    full = [g for g in gcs if g["gen"] == 2]
    print(
        "    messages           ingress   queue     run  (sql  commit)  egress   total"
        "   in flight during a full collection (any worker)"
    )
    ranked = [c for c in slowest if c in posts]
    for label, chosen in (
        ("all", ranked),
        ("slowest 5 %", ranked[: max(1, len(ranked) // 20)]),
        ("slowest 1 %", ranked[: max(1, len(ranked) // 100)]),
    ):
        split = [p for p in (parts(c) for c in chosen) if p]
        mean = {k: statistics.fmean(p[k] for p in split) for k in split[0]}
        total = statistics.fmean(latency[c] for c in chosen)
        during_full = sum(
            any(g["t1"] > sent[c] and g["t0"] < arrived[c] for g in full) for c in chosen
        )
        print(
            f"    {label:<16} {mean['ingress']:8.1f} {mean['queue']:7.1f} {mean['run']:7.1f} "
            f"({mean['sql']:5.1f} {mean['commit']:6.1f}) {mean['egress']:7.1f} {total:7.1f}"
            f"   {during_full}/{len(chosen)}"
        )
    print("  slowest 10:")
    for cid in slowest[:10]:
        p = parts(cid)
        split = " ".join(f"{k} {v:.1f}" for k, v in p.items()) if p else "(post_line not traced)"
        print(f"    {latency[cid]:6.1f} ms at {sent[cid] - first_send:5.1f}s: {split}")
        print(f"        {overlapping(cid)}")

    print("  sync calls on the servers during the phase (count, run p50/p99/max ms, queue p99):")
    by_fn: dict[tuple[str, bool], list[dict]] = defaultdict(list)
    for c in calls:
        by_fn[(c["fn"], c["sensitive"])].append(c)
    for (fn, sensitive), group in sorted(by_fn.items(), key=lambda kv: -len(kv[1])):
        runs = [(c["end"] - c["start"]) * 1000 for c in group]
        waits = [(c["start"] - c["queued"]) * 1000 for c in group]
        queries = statistics.fmean(c["queries"] for c in group)
        print(
            f"    {fn:<34} {'db-thread' if sensitive else 'pool     '} {len(group):5d}  "
            f"{_pct(runs, 0.5):6.1f} {_pct(runs, 0.99):6.1f} {max(runs):6.1f}  "
            f"queue p99 {_pct(waits, 0.99):6.1f}  {queries:.1f} queries"
        )
    commits = [c["commit_ms"] for c in posts.values()]
    print(
        f"  COMMIT in post_line: p50 {_pct(commits, 0.5):.2f} p95 {_pct(commits, 0.95):.2f} "
        f"p99 {_pct(commits, 0.99):.2f} max {max(commits, default=0):.2f} ms"
    )
    by_gen: dict[int, list[float]] = defaultdict(list)
    for g in gcs:
        by_gen[g["gen"]].append((g["t1"] - g["t0"]) * 1000)
    print(
        "  collections: "
        + (
            ", ".join(
                f"gen {gen}: {len(v)} (max {max(v):.1f} ms, total {sum(v):.0f} ms)"
                for gen, v in sorted(by_gen.items())
            )
            or "none"
        )
    )
    lag_values = [g["ms"] for g in lags]
    print(
        f"  event loop late > 5 ms: {len(lag_values)} times"
        + (f", p50 {_pct(lag_values, 0.5):.1f} max {max(lag_values):.1f} ms" if lag_values else "")
    )
