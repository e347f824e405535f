"""classify throughput and latency: the model server directly, mlgraph, and the seed wrapper.

    .venv/bin/python bench/classify.py --duration 10 --concurrency 1,8,32,128

Starts, in one run: (a) the seldon-core iris microservice (the ceiling), (b) ``mlgraph serve``
(1 worker) on a fresh, migrated PostgreSQL database, (c) bench/seed_wrapper.py under uvicorn on
the same database (its own table). For each concurrency the three are loaded one after the
other with wrk (``--rounds`` repeats the sweep, rotating the order), so machine noise hits all
three alike. After each run against (b) and (c) the stored rows are counted: every request wrk
sent must have stored exactly one row (acknowledged ones plus those in flight when wrk stopped).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _harness import (
    BODIES,
    Run,
    asyncpg_url,
    fresh_database,
    machine,
    need_wrk,
    settled_count,
    start_mlgraph,
    start_model,
    start_seed,
    table,
    use_ref,
    wrk,
)

TARGETS = ("direct", "mlgraph", "seed")
TABLES = {"mlgraph": "predictions", "seed": "seed_predictions"}
LABELS = {"direct": "a direct", "mlgraph": "b mlgraph", "seed": "c seed"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--concurrency", default="1,8,32,128", help="comma-separated clients")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the sweep (median shown)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per target")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    parser.add_argument(
        "--mlgraph-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra MLGRAPH_* settings for mlgraph, e.g. MLGRAPH_LOG_LEVEL=warning",
    )  # fmt: skip
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.duration > 120 or args.rounds > 5:
        parser.error("keep runs bounded: --duration <= 120, --rounds <= 5")
    need_wrk()
    extra_env = dict(item.split("=", 1) for item in args.mlgraph_env)

    info = machine()
    runs: list[Run] = []
    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
    ):
        print(f"# classify benchmark, {info['date']}")
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; mlgraph at {code}")
        print(f"wrk 1 thread, {args.duration:g}s per run, {args.rounds} round(s), order rotated\n")
        workdir = Path(tmp)
        servers = []
        try:
            model = start_model(workdir)
            servers.append(model)
            mlgraph = start_mlgraph(workdir, asyncpg_url(name), model.url, extra_env)
            servers.append(mlgraph)
            seed = start_seed(workdir, name, model.url)
            servers.append(seed)
            urls = {
                "direct": model.url + "/api/v1.0/predictions",
                "mlgraph": mlgraph.url + "/graphql",
                "seed": seed.url + "/classify",
            }
            marks = {"direct": "", "mlgraph": '"errors"', "seed": ""}

            # The load generator's own reach: mlgraph's trivial /healthz, no model, no database.
            floor = wrk("wrk->healthz", mlgraph.url + "/healthz", concurrency=32,
                        duration=min(5, args.duration), method="GET")  # fmt: skip
            print(f"load generator check: wrk drives mlgraph /healthz at {floor.rps:.0f} req/s")
            for target in TARGETS:
                wrk(target, urls[target], concurrency=8, duration=args.warmup,
                    body=BODIES[target], bad_mark=marks[target])  # fmt: skip
            time.sleep(2)  # let the warm-up's in-flight rows land before counting

            for round_index in range(args.rounds):
                for level in levels:
                    shift = (round_index + levels.index(level)) % len(TARGETS)
                    for target in TARGETS[shift:] + TARGETS[:shift]:
                        before = settled_count(name, TABLES[target]) if target in TABLES else 0
                        run = wrk(target, urls[target], concurrency=level,
                                  duration=args.duration, body=BODIES[target],
                                  bad_mark=marks[target])  # fmt: skip
                        if target in TABLES:
                            stored = settled_count(name, TABLES[target]) - before
                            run.extra = {"stored": stored, "in_flight": run.sent - run.ok}
                        runs.append(run)
                        _print_run(round_index, run)
        finally:
            for server in reversed(servers):
                server.stop()

    print()
    print(_summary(runs, levels))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"rps": r.rps} for r in runs], indent=1))
    return 0 if all(_consistent(r) for r in runs) else 1


def _consistent(run: Run) -> bool:
    # Every request wrk sent stored exactly one row, and none was answered with an error.
    return "stored" not in run.extra or (run.extra["stored"] == run.sent and run.bad == 0)


def _print_run(round_index: int, run: Run) -> None:
    line = (
        f"round {round_index + 1} c={run.concurrency:<4} {LABELS[run.target]:<10} "
        f"{run.rps:8.1f} req/s  p50 {run.p50_ms:7.2f}  p95 {run.p95_ms:7.2f}  "
        f"p99 {run.p99_ms:7.2f} ms  ok {run.ok} bad {run.bad} sockerr {run.socket_errors}"
    )
    if "stored" in run.extra:
        verdict = "OK" if _consistent(run) else "MISMATCH"
        line += (
            f"  rows stored {run.extra['stored']} = acked {run.ok} + in flight at stop "
            f"{run.extra['in_flight']} -> {verdict}"
        )
    print(line, flush=True)


def _summary(runs: list[Run], levels: list[int]) -> str:
    def median(target: str, level: int, attr: str) -> float:
        values = [getattr(r, attr) for r in runs if r.target == target and r.concurrency == level]
        return statistics.median(values) if values else float("nan")

    rows = []
    for level in levels:
        for target in TARGETS:
            rows.append([
                level, LABELS[target], f"{median(target, level, 'rps'):.1f}",
                f"{median(target, level, 'p50_ms'):.2f}", f"{median(target, level, 'p95_ms'):.2f}",
                f"{median(target, level, 'p99_ms'):.2f}", "", "", "",
            ])  # fmt: skip
        a, b, c = (median(t, level, "rps") for t in TARGETS)
        added = median("mlgraph", level, "p50_ms") - median("direct", level, "p50_ms")
        rows[-3][6:] = [f"{b / a:.2f}", f"{b / c:.2f}", f"{added:+.2f}"]
    headers = ["clients", "target", "req/s", "p50 ms", "p95 ms", "p99 ms",
               "b/a", "b/c", "b-a p50 ms"]  # fmt: skip
    return table(headers, rows)


if __name__ == "__main__":
    sys.exit(main())
