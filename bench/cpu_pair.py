"""mlgraph's CPU per classify call at two commits, measured side by side at the same time.

    .venv/bin/python bench/cpu_pair.py --ref-a 69ea848 --ref-b HEAD [--model mlserver]

On a shared machine the CPU one call costs moves by a third from one run to the next (another
tenant's load, the caches, the clock), more than a lever changes it, so runs of cpu.py one after
the other cannot tell two commits apart. Here both commits serve at once: one model server, two
``mlgraph serve`` (one worker each, each on its own fresh database), and two wrk processes of
``--concurrency`` connections each started together, so whatever the machine does it does to
both. Each round reads each mlgraph's CPU time (utime + stime, from /proc) per answered call;
the summary is the median of the rounds and of their ratios b/a.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _harness import (
    BODIES,
    PROTOCOLS,
    Run,
    add_pair_arguments,
    asyncpg_url,
    checkout_pair,
    fresh_database,
    machine,
    start_mlgraph,
    start_model,
    table,
    wrk,
)
from cpu import cpu_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_pair_arguments(parser, measured="measured")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per mlgraph")
    parser.add_argument("--duration", type=float, default=10, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.duration > 120 or args.rounds > 50:
        parser.error("keep runs bounded: --duration <= 120 and --rounds <= 50")
    protocol = PROTOCOLS[args.model]
    env = {"MLGRAPH_LOG_LEVEL": args.log_level, **protocol["mlgraph_env"]}
    info = machine()
    print(f"# mlgraph CPU per classify call, a = {args.ref_a}, b = {args.ref_b}, {info['date']}")
    with contextlib.ExitStack() as stack:
        trees = checkout_pair(stack, args.ref_a, args.ref_b)
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; model {args.model}; "
              f"a = {trees['a'][0]}, b = {trees['b'][0]}; {args.concurrency} connections "
              f"each, {args.rounds} rounds of {args.duration:g} s; "
              f"MLGRAPH_LOG_LEVEL={args.log_level}")  # fmt: skip
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlgraph-pair-")))
        model = start_model(workdir, kind=args.model)
        stack.callback(model.stop)
        servers = {}
        for side, (_, tree) in trees.items():
            database = stack.enter_context(fresh_database())
            server = start_mlgraph(
                workdir, asyncpg_url(database), model.url, env, name=f"mlgraph-{side}", source=tree
            )
            stack.callback(server.stop)
            servers[side] = server
        rows, ratios = [], []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for round_number in range(args.rounds + 1):  # round 0 warms both up
                before = {s: cpu_seconds(servers[s].pid) for s in servers}
                seconds = args.duration if round_number else 3

                def load(side: str, seconds: float = seconds) -> Run:
                    url = servers[side].url + "/graphql"
                    return wrk(
                        side, url, concurrency=args.concurrency, duration=seconds,
                        body=BODIES["mlgraph"], bad_mark='"errors"',
                    )  # fmt: skip

                runs = dict(zip(servers, pool.map(load, list(servers)), strict=True))
                if not round_number:
                    continue
                per_call = {
                    s: 1000 * (cpu_seconds(servers[s].pid) - before[s]) / max(runs[s].ok, 1)
                    for s in servers
                }
                bad = sum(run.bad + run.socket_errors for run in runs.values())
                ratios.append(per_call["b"] / per_call["a"])
                rows.append([
                    str(round_number), f"{runs['a'].rps:.0f}", f"{per_call['a']:.3f}",
                    f"{runs['b'].rps:.0f}", f"{per_call['b']:.3f}", f"{ratios[-1]:.2f}", str(bad),
                ])  # fmt: skip
    print()
    print(table(["round", "a req/s", "a CPU ms/call", "b req/s", "b CPU ms/call", "b/a", "bad"],
                rows))  # fmt: skip
    a_ms = statistics.median(float(r[2]) for r in rows)
    b_ms = statistics.median(float(r[4]) for r in rows)
    print(f"\nmedian CPU per call: a {a_ms:.3f} ms, b {b_ms:.3f} ms; "
          f"median of the rounds' b/a: {statistics.median(ratios):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
