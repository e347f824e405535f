"""Where the machine's CPU goes per classify call: wrk, the model server, mlgraph, PostgreSQL.

    .venv/bin/python bench/cpu.py --duration 10 --concurrency 32 [--model mlserver]

Starts the model server and ``mlgraph serve`` (1 worker) on a fresh PostgreSQL database, runs
wrk against mlgraph, and reads each process's CPU time (utime + stime of the process and its
children, from /proc) before and after: CPU milliseconds per answered call. Then the same
against the model server directly. From those, the rate this machine could reach through
mlgraph if every core were busy (cores x 1000 / the ms per call of all processes), and the
CPU per call mlgraph would have to fit in to reach 0.9x the direct rate. Last, from mlgraph's own
/metrics: calls per commit (group commit), rows per model request (adaptive batching) and the mean
model call and database write.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _harness import (
    BODIES,
    PROTOCOLS,
    Run,
    asyncpg_url,
    fresh_database,
    machine,
    scrape_metrics,
    start_mlgraph,
    start_model,
    table,
    use_ref,
    wrk,
)

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) and of its living children, recursively."""
    # After the ")" that ends the command: state is field 0; utime and stime are 11 and 12.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / TICKS
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = task / "children"
        for child in children.read_text().split() if children.exists() else ():
            total += cpu_seconds(int(child))
    return total


def postgres_seconds() -> float:
    """CPU of every PostgreSQL process on the machine (the cluster serves only the bench)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def measure(
    label: str, url: str, body: str, pids: dict[str, int], args: argparse.Namespace
) -> tuple[Run, dict[str, float]]:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    before["postgres"] = postgres_seconds()
    run = wrk(label, url, concurrency=args.concurrency, duration=args.duration, body=body,
              bad_mark='"errors"' if label == "mlgraph" else "")  # fmt: skip
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    after["postgres"] = postgres_seconds()
    per_call = {name: 1000 * (after[name] - before[name]) / max(run.ok, 1) for name in after}
    return run, per_call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--model", choices=sorted(PROTOCOLS), default="seldon")
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    args = parser.parse_args()
    if args.duration > 120:
        parser.error("keep runs bounded: --duration <= 120")
    protocol = PROTOCOLS[args.model]
    env = {"MLGRAPH_LOG_LEVEL": "warning", **protocol["mlgraph_env"]}

    info = machine()
    cores = int(info["nproc"])
    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
    ):
        print(f"# CPU per classify call, {info['date']}")
        print(f"machine: nproc={cores}, {info['cpu']}; mlgraph at {code}; model {args.model}")
        workdir = Path(tmp)
        model = start_model(workdir, kind=args.model)
        try:
            mlgraph = start_mlgraph(workdir, asyncpg_url(name), model.url, env)
            try:
                graphql = mlgraph.url + "/graphql"
                wrk("warm-up", graphql, concurrency=8, duration=3, body=BODIES["mlgraph"])
                wrk("warm-up", model.url + protocol["path"], concurrency=8, duration=3,
                    body=protocol["body"])  # fmt: skip
                pids = {"model": model.pid, "mlgraph": mlgraph.pid}
                metrics_before = scrape_metrics(mlgraph.url)
                through, cost = measure("mlgraph", graphql, BODIES["mlgraph"], pids, args)
                metrics_after = scrape_metrics(mlgraph.url)
                direct, direct_cost = measure(
                    "direct", model.url + protocol["path"], protocol["body"], pids, args
                )
            finally:
                mlgraph.stop()
        finally:
            model.stop()

    rows = [
        [n, f"{cost[n]:.3f}", f"{direct_cost[n]:.3f}"] for n in ("mlgraph", "model", "postgres")
    ]
    print(f"\n{args.concurrency} clients, {args.duration:g} s each: through mlgraph "
          f"{through.rps:.1f} req/s, direct {direct.rps:.1f} req/s\n")  # fmt: skip
    print(table(["process", "CPU ms per call via mlgraph", "CPU ms per call direct"], rows))
    spent = sum(cost.values())
    model_ms = direct_cost["model"]
    # At 0.9x the direct rate the model server keeps its own share; what is left of the cores,
    # less PostgreSQL's share, is mlgraph's budget per call (wrk's own CPU is not counted).
    target_rate = 0.9 * direct.rps
    budget = cores * 1000 / target_rate - model_ms - cost["postgres"]
    print(f"\nall three per call: {spent:.3f} ms -> at most {cores * 1000 / spent:.0f} req/s on "
          f"{cores} fully busy cores (wrk not counted)")  # fmt: skip
    print(f"0.9x direct = {target_rate:.0f} req/s needs mlgraph <= {budget:.3f} ms CPU per call; "
          f"it spends {cost['mlgraph']:.3f} ms")  # fmt: skip

    def mean(name: str) -> float:
        if f"{name}_count" not in metrics_after:  # a metric the code under test lacks
            return float("nan")
        count = metrics_after[f"{name}_count"] - metrics_before.get(f"{name}_count", 0.0)
        total = metrics_after[f"{name}_sum"] - metrics_before.get(f"{name}_sum", 0.0)
        return total / max(count, 1)

    print(f"\nfrom mlgraph's /metrics during the run: "
          f"{mean('mlgraph_classify_calls_per_commit'):.1f} calls per commit, "
          f"{mean('mlgraph_model_rows_per_call'):.1f} rows per model request, model call "
          f"{1000 * mean('mlgraph_classify_model_seconds'):.2f} ms and database write "
          f"{1000 * mean('mlgraph_classify_db_seconds'):.2f} ms on average per call")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
