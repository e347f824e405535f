"""classify throughput and latency: the model server directly, mlgraph, and the seed wrapper.

    .venv/bin/python bench/classify.py --duration 10 --concurrency 1,8,32,128

Starts, in one run: (a) the seldon-core iris microservice (the ceiling), (b) ``mlgraph serve``
(1 worker) on a fresh, migrated PostgreSQL database, (c) bench/seed_wrapper.py under uvicorn on
the same database (its own table). For each concurrency the targets are loaded one after the
other with wrk (the order rotates, and ``--rounds`` repeats the sweep), so machine noise hits
them alike. After each run against (b) and (c) the stored rows are counted: every request wrk
sent must have stored exactly one row (acknowledged ones plus those in flight when wrk stopped).

``--variant NAME=MODULE:FACTORY`` adds mlgraph built by a factory in bench/ (see _levers.py) as
one more target of the same interleaved run, to measure a lever before anyone changes graph/.

``--pods N`` adds target "pods": N ``mlgraph serve`` processes of one worker each on the same
database and model, as N pods behind a Kubernetes Service; each gets its own wrk with an equal
share of the connections, all at once (levels below N skip it). Its requests are the sum, its
percentiles the slowest pod's. Several uvicorn workers share connections as the kernel hands
them out, often unevenly (bench/RESULTS.md); a Service spreads them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _harness import (
    BODIES,
    PROTOCOLS,
    Run,
    Server,
    asyncpg_url,
    checkout,
    fresh_database,
    machine,
    need_wrk,
    requests_per_worker,
    scrape_metrics,
    settled_count,
    start_mlgraph,
    start_model,
    start_seed,
    table,
    use_ref,
    wrk,
)

BASE = ("direct", "mlgraph", "seed")
LABELS = {"direct": "a direct", "mlgraph": "b mlgraph", "seed": "c seed"}
# mlgraph's /metrics read before and after each run: how it batched, which req/s alone hides.
BATCHING = {
    "model_requests": "mlgraph_model_rows_per_call_count",
    "model_rows": "mlgraph_model_rows_per_call_sum",
    "commits": "mlgraph_classify_calls_per_commit_count",
    "stored_calls": "mlgraph_classify_calls_per_commit_sum",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--concurrency", default="1,8,32,128", help="comma-separated clients")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the sweep (median shown)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per target")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    parser.add_argument(
        "--baseline", metavar="REF",
        help="also run mlgraph from this older commit as target 'before', to measure a change",
    )  # fmt: skip
    parser.add_argument(
        "--model", choices=sorted(PROTOCOLS), default="seldon",
        help="the model server: seldon (v1 protocol) or mlserver (V2, Open Inference Protocol)",
    )  # fmt: skip
    parser.add_argument(
        "--model-threads", type=int, default=1,
        help="gunicorn threads of the seldon model server; above 1 it keeps connections alive",
    )  # fmt: skip
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME=MODULE:FACTORY",
        help="another mlgraph target from a factory in bench/, e.g. caches=_levers:with_caches",
    )  # fmt: skip
    parser.add_argument(
        "--variant-env", action="append", default=[], metavar="NAME:KEY=VALUE",
        help="a setting for one variant only; a variant may be NAME=serve (plain mlgraph serve)",
    )  # fmt: skip
    parser.add_argument(
        "--pods", type=int, default=0, metavar="N",
        help="also run N one-worker mlgraph processes as target 'pods', connections split evenly",
    )  # fmt: skip
    parser.add_argument(
        "--mlgraph-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra MLGRAPH_* settings for mlgraph, e.g. MLGRAPH_LOG_LEVEL=warning",
    )  # fmt: skip
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.duration > 120 or args.rounds > 5:
        parser.error("keep runs bounded: --duration <= 120, --rounds <= 5")
    need_wrk()
    protocol = PROTOCOLS[args.model]
    extra_env = {**protocol["mlgraph_env"], **dict(i.split("=", 1) for i in args.mlgraph_env)}
    variants = dict(item.split("=", 1) for item in args.variant)
    variant_env: dict[str, dict[str, str]] = {name: {} for name in variants}
    for item in args.variant_env:
        variant, setting = item.split(":", 1)
        key, value = setting.split("=", 1)
        variant_env[variant][key] = value
    targets = [
        *BASE, *variants, *(["before"] if args.baseline else []), *(["pods"] if args.pods else [])
    ]  # fmt: skip
    for name in variants:
        LABELS[name] = f"b' {name}"
    LABELS["before"] = f"b0 {args.baseline}"
    LABELS["pods"] = f"b {args.pods} pods"
    tables = {t: "predictions" for t in targets if t not in ("direct", "seed")}
    tables["seed"] = "seed_predictions"

    info = machine()
    runs: list[Run] = []
    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
        checkout(args.baseline) if args.baseline else contextlib.nullcontext() as baseline,
    ):
        print(f"# classify benchmark, {info['date']}")
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; mlgraph at {code}")
        print(f"wrk 1 thread, {args.duration:g}s per run, {args.rounds} round(s), order rotated")
        if args.model == "mlserver":
            print("model server: MLServer (V2), deploy/model/mlserver settings")
        else:
            print(f"model server: seldon microservice, 1 worker, {args.model_threads} thread(s)")
        for variant, app in variants.items():
            print(f"variant {variant}: {app} {variant_env[variant] or ''}")
        if baseline is not None:
            print(f"before: mlgraph at {baseline[0]} (git archive {args.baseline})")
        print()
        workdir = Path(tmp)
        servers: dict[str, Server] = {}
        pods: list[Server] = []
        try:
            servers["direct"] = model = start_model(workdir, args.model_threads, args.model)
            db_url = asyncpg_url(name)
            servers["mlgraph"] = start_mlgraph(workdir, db_url, model.url, extra_env)
            servers["seed"] = start_seed(workdir, name, model.url, protocol["seed_env"])
            for variant, app in variants.items():
                servers[variant] = start_mlgraph(
                    workdir, db_url, model.url, {**extra_env, **variant_env[variant]},
                    app=None if app == "serve" else app, name=variant,
                )  # fmt: skip
            if baseline is not None:
                servers["before"] = start_mlgraph(
                    workdir, db_url, model.url, extra_env, name="before", source=baseline[1]
                )
            for index in range(args.pods):
                pods.append(
                    start_mlgraph(workdir, db_url, model.url, extra_env, name=f"pod{index + 1}")
                )
            paths = {"direct": protocol["path"], "seed": "/classify"}

            def fleet(target: str) -> list[Server]:
                return pods if target == "pods" else [servers[target]]

            def urls(target: str) -> list[str]:
                return [s.url + paths.get(target, "/graphql") for s in fleet(target)]

            def body(target: str) -> str:
                if target == "direct":
                    return str(protocol["body"])
                return BODIES.get(target, BODIES["mlgraph"])

            def mark(target: str) -> str:
                return "" if target in ("direct", "seed") else '"errors"'

            # The load generator's own reach: mlgraph's trivial /healthz, no model, no database.
            floor = wrk("wrk->healthz", servers["mlgraph"].url + "/healthz", concurrency=32,
                        duration=min(5, args.duration), method="GET")  # fmt: skip
            print(f"load generator check: wrk drives mlgraph /healthz at {floor.rps:.0f} req/s")
            for target in targets:
                for target_url in urls(target):
                    wrk(target, target_url, concurrency=8, duration=args.warmup,
                        body=body(target), bad_mark=mark(target))  # fmt: skip
            time.sleep(2)  # let the warm-up's in-flight rows land before counting

            for round_index in range(args.rounds):
                for level in levels:
                    shift = (round_index + levels.index(level)) % len(targets)
                    for target in targets[shift:] + targets[:shift]:
                        if level < len(fleet(target)):
                            continue
                        table_name = tables.get(target)
                        before = settled_count(name, table_name) if table_name else 0
                        counted = target in tables and target != "seed"
                        counts = _scrape(fleet(target)) if counted else {}
                        logged = [server.log.stat().st_size for server in fleet(target)]
                        run = _load(target, urls(target), concurrency=level,
                                    duration=args.duration, body=body(target),
                                    bad_mark=mark(target))  # fmt: skip
                        if table_name:
                            stored = settled_count(name, table_name) - before
                            run.extra = {"stored": stored, "in_flight": run.sent - run.ok}
                        if counted:
                            after = _scrape(fleet(target))
                            run.extra |= {
                                key: after.get(name, 0.0) - counts.get(name, 0.0)
                                for key, name in BATCHING.items()
                            }
                            run.extra["per_worker"] = sorted(
                                (n for s, at in zip(fleet(target), logged, strict=True)
                                 for n in requests_per_worker(s.log, at)),
                                reverse=True,
                            )  # fmt: skip
                        runs.append(run)
                        _print_run(round_index, run)
                        if target == "seed" and run.ok == 0:
                            # The seed wrapper's known deadlock (fastapi/fastapi#3205): every
                            # pool thread waits for a pooled connection that only a dependency's
                            # cleanup, queued behind them, would give back. Restart it so the
                            # runs that follow measure a working wrapper.
                            print("  seed wrapper answered nothing: restarting it", flush=True)
                            servers["seed"].stop()
                            servers["seed"] = start_seed(
                                workdir, name, model.url, protocol["seed_env"]
                            )
        finally:
            for server in [*reversed(servers.values()), *pods]:
                server.stop()

    print()
    print(_summary(runs, levels, targets))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"rps": r.rps} for r in runs], indent=1))
    return 0 if all(_consistent(r) for r in runs if r.target != "seed" or r.ok) else 1


def _load(target: str, urls: list[str], *, concurrency: int, **options: Any) -> Run:
    """wrk against ``urls`` at once, ``concurrency`` split evenly (a remainder is not sent): one
    run, requests summed, percentiles the slowest's (wrk gives no merged distribution)."""
    if len(urls) == 1:
        return wrk(target, urls[0], concurrency=concurrency, **options)
    share = concurrency // len(urls)
    with ThreadPoolExecutor(len(urls)) as pool:
        parts = list(pool.map(lambda u: wrk(target, u, concurrency=share, **options), urls))
    return Run(
        target=target,
        concurrency=concurrency,
        requests=sum(p.requests for p in parts),
        seconds=max(p.seconds for p in parts),
        sent=sum(p.sent for p in parts),
        ok=sum(p.ok for p in parts),
        bad=sum(p.bad for p in parts),
        socket_errors=sum(p.socket_errors for p in parts),
        p50_ms=max(p.p50_ms for p in parts),
        p95_ms=max(p.p95_ms for p in parts),
        p99_ms=max(p.p99_ms for p in parts),
    )


def _scrape(servers: list[Server]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for server in servers:
        for key, value in scrape_metrics(server.url).items():
            totals[key] = totals.get(key, 0.0) + value
    return totals


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
    if run.extra.get("model_requests"):
        extra = run.extra
        line += (
            f"\n    rows per model request {extra['model_rows'] / extra['model_requests']:.2f}, "
            f"calls per commit {extra['stored_calls'] / max(extra['commits'], 1):.2f}"
        )
        if len(extra.get("per_worker", ())) > 1:
            line += ", requests per worker " + " / ".join(map(str, extra["per_worker"]))
    print(line, flush=True)


def _summary(runs: list[Run], levels: list[int], targets: list[str]) -> str:
    def median(target: str, level: int, attr: str) -> float:
        values = [getattr(r, attr) for r in runs if r.target == target and r.concurrency == level]
        return statistics.median(values) if values else float("nan")

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}" if y else "inf"

    rows = []
    for level in levels:
        a, c = median("direct", level, "rps"), median("seed", level, "rps")
        a_p50 = median("direct", level, "p50_ms")
        for target in targets:
            rps, p50 = median(target, level, "rps"), median(target, level, "p50_ms")
            row = [level, LABELS[target], f"{rps:.1f}", f"{p50:.2f}",
                   f"{median(target, level, 'p95_ms'):.2f}",
                   f"{median(target, level, 'p99_ms'):.2f}", "", "", ""]  # fmt: skip
            if target not in ("direct", "seed"):
                row[6:] = [ratio(rps, a), ratio(rps, c), f"{p50 - a_p50:+.2f}"]
            rows.append(row)
    headers = ["clients", "target", "req/s", "p50 ms", "p95 ms", "p99 ms",
               "x direct (b/a)", "x seed (b/c)", "added p50 ms"]  # fmt: skip
    return table(headers, rows)


if __name__ == "__main__":
    sys.exit(main())
