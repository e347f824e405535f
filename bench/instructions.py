"""Instructions mlgraph executes per classify call at two commits, counted by callgrind.

    .venv/bin/python bench/instructions.py --ref-a 65493ff --ref-b HEAD [--model mlserver]

Seconds of CPU on a shared machine move by a third from one run to the next (bench/RESULTS.md),
more than most levers change them, and this machine has no hardware counters (`perf stat -e
instructions` says "not supported"). Valgrind's callgrind counts the instructions a process
executes, whatever else the machine is doing. Each side runs ``mlgraph serve`` (one worker,
its own fresh database, the real model server) under callgrind with instrumentation off,
warms it up, then counts the instructions of ``--calls`` classify calls, and reads every row
back. By default one client sends them one after the other: the count then repeats to 0.1 %,
and it is the cost of a lone call (GraphQL, HTTP, a model call and a commit of its own).
``--clients N`` sends them from N connections at once. Under valgrind mlgraph is ~50x slower
than the model server and PostgreSQL, so the calls queue behind each other and share model
requests and commits about N at a time: closer to what 32 clients cost, less repeatable.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from _harness import (
    BODIES,
    PROTOCOLS,
    Server,
    add_pair_arguments,
    asyncpg_url,
    checkout_pair,
    count_rows,
    fresh_database,
    machine,
    start_mlgraph,
    start_model,
    table,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_pair_arguments(parser, measured="counted")
    parser.add_argument("--calls", type=int, default=200, help="counted calls per run")
    parser.add_argument("--warmup", type=int, default=50, help="calls before counting")
    parser.add_argument("--clients", type=int, default=1, help="connections sending at once")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each commit")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR",
        help="copy each run's callgrind dump here, for callgrind_annotate",
    )  # fmt: skip
    args = parser.parse_args()
    if args.calls > 5000 or args.repeats > 10 or not 1 <= args.clients <= 64:
        parser.error("keep runs bounded: --calls <= 5000, --repeats <= 10, --clients <= 64")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is missing: apt-get install -y valgrind")
    env = {
        "MLGRAPH_LOG_LEVEL": args.log_level,
        # The same hash seed on every run: dict and set layouts, and so the work, repeat.
        "PYTHONHASHSEED": "0",
        **PROTOCOLS[args.model]["mlgraph_env"],
    }
    info = machine()
    print(f"# mlgraph instructions per classify call, a = {args.ref_a}, b = {args.ref_b}, "
          f"{info['date']}")  # fmt: skip
    with contextlib.ExitStack() as stack:
        trees = checkout_pair(stack, args.ref_a, args.ref_b)
        print(f"model {args.model}; a = {trees['a'][0]}, b = {trees['b'][0]}; {args.warmup} "
              f"warm-up then {args.calls} counted calls from {args.clients} client(s); "
              f"{args.repeats} runs of each, alternating; "
              f"MLGRAPH_LOG_LEVEL={args.log_level}")  # fmt: skip
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlgraph-ir-")))
        model = start_model(workdir, kind=args.model)
        stack.callback(model.stop)
        counts: dict[str, list[float]] = {"a": [], "b": []}
        for run in range(args.repeats):
            for side in ("a", "b"):
                out = workdir / f"callgrind-{side}-{run}"
                counts[side].append(
                    count_run(valgrind, out, trees[side][1], model.url, env, args) / args.calls
                )
                print(f"run {run + 1} {side}: {counts[side][-1]:,.0f} instructions per call")
    a, b = statistics.median(counts["a"]), statistics.median(counts["b"])
    print()
    print(table(
        ["side", "commit", *[f"run {i + 1}" for i in range(args.repeats)], "median"],
        [[side, trees[side][0], *[f"{c / 1e6:.3f} M" for c in counts[side]],
          f"{statistics.median(counts[side]) / 1e6:.3f} M"] for side in ("a", "b")],
    ))  # fmt: skip
    print(f"\nb/a: {b / a:.3f} ({(b - a) / 1e3:+,.0f} k instructions per call)")
    return 0


def count_run(
    valgrind: str,
    out: Path,
    tree: Path,
    model_url: str,
    env: dict[str, str],
    args: argparse.Namespace,
) -> int:
    """Total instructions of ``args.calls`` classify calls in one fresh mlgraph under callgrind."""
    prefix = [
        valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
        "--dump-instr=no", "--compress-strings=no",
    ]  # fmt: skip
    with fresh_database() as database:
        server = start_mlgraph(
            out.parent, asyncpg_url(database), model_url, env, name=out.name, source=tree,
            prefix=prefix, timeout=600,
        )  # fmt: skip
        try:
            send(server, args.warmup, args.clients)
            control(server, "--instr=on")
            send(server, args.calls, args.clients)
            control(server, "--dump")
            control(server, "--instr=off")
        finally:
            server.stop()
        stored = count_rows(database, "predictions")
        if stored != args.warmup + args.calls:
            raise SystemExit(f"{out.name}: {stored} rows stored for {args.warmup + args.calls}")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(f"{out}.1", args.keep / f"{out.name}.callgrind")
    return read_total(out)


def control(server: Server, command: str) -> None:
    subprocess.run(["callgrind_control", command, str(server.pid)], check=True,
                   capture_output=True, timeout=120)  # fmt: skip


def read_total(out: Path) -> int:
    """The ``totals:`` of the dump made on request (``out.1``; ``out`` itself holds the
    uncounted rest, written when the process ends)."""
    for line in Path(f"{out}.1").read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out}.1")


def send(server: Server, calls: int, clients: int) -> None:
    """``calls`` classify calls from ``clients`` connections at once, split evenly."""
    shares = [calls // clients + (i < calls % clients) for i in range(clients)]

    def run(share: int) -> None:
        with Client(server) as client:
            client.classify(share)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(run, shares))


class Client:
    """One kept-alive connection sending classify calls one after the other."""

    def __init__(self, server: Server) -> None:
        parts = urlsplit(server.url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        self.body = BODIES["mlgraph"].encode()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def classify(self, calls: int) -> None:
        headers = {"content-type": "application/json"}
        for _ in range(calls):
            self.connection.request("POST", "/graphql", self.body, headers)
            response = self.connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200 or "errors" in answer:
                raise SystemExit(f"classify failed: {response.status} {answer}")


if __name__ == "__main__":
    sys.exit(main())
