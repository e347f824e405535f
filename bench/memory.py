"""mlgraph's resident memory before and after a sustained classify run.

    .venv/bin/python bench/memory.py --duration 60 --concurrency 32

Starts the seldon microservice and ``mlgraph serve`` (1 worker) on a fresh PostgreSQL database,
reads VmRSS from /proc after start-up, after a short warm-up (imports, pools and caches filled:
the baseline), every few seconds during one sustained wrk run, and at the end. It prints the
after/warm ratio: a flat process stays near 1.0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

from _harness import (
    BODIES,
    asyncpg_url,
    fresh_database,
    machine,
    rss_kib,
    settled_count,
    start_mlgraph,
    start_model,
    table,
    use_ref,
    wrk,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of sustained load")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--sample-every", type=float, default=5)
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    args = parser.parse_args()
    if args.duration > 600:
        parser.error("keep runs bounded: --duration <= 600")

    info = machine()
    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
    ):
        print(f"# memory benchmark, {info['date']}")
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; mlgraph at {code}")
        workdir = Path(tmp)
        model = start_model(workdir)
        try:
            mlgraph = start_mlgraph(workdir, asyncpg_url(name), model.url)
            try:
                idle = rss_kib(mlgraph.pid)
                url, body = mlgraph.url + "/graphql", BODIES["mlgraph"]
                wrk("mlgraph", url, concurrency=args.concurrency, duration=args.warmup,
                    body=body, bad_mark='"errors"')  # fmt: skip
                warm = rss_kib(mlgraph.pid)
                before = settled_count(name, "predictions")

                samples: list[tuple[float, int]] = []
                stop = threading.Event()

                def sample() -> None:
                    elapsed = 0.0
                    while not stop.wait(args.sample_every):
                        elapsed += args.sample_every
                        samples.append((elapsed, rss_kib(mlgraph.pid)))

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                run = wrk("mlgraph", url, concurrency=args.concurrency, duration=args.duration,
                          body=body, bad_mark='"errors"')  # fmt: skip
                stop.set()
                sampler.join()
                after = rss_kib(mlgraph.pid)
                stored = settled_count(name, "predictions") - before
            finally:
                mlgraph.stop()
        finally:
            model.stop()

    print(f"sustained run: {run.rps:.1f} req/s for {run.seconds:.0f} s at {args.concurrency} "
          f"clients, {run.ok} ok, {run.bad} failed, {stored} rows stored")  # fmt: skip

    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f}"

    rows = [
        ["after start-up", mib(idle), f"{idle / warm:.2f}"],
        [f"after {args.warmup:g} s warm-up (baseline)", mib(warm), "1.00"],
    ]
    rows += [
        [f"during, t={t:.0f} s", f"{kib / 1024:.1f}", f"{kib / warm:.2f}"] for t, kib in samples
    ]
    rows.append(
        [f"after {args.duration:g} s sustained", f"{after / 1024:.1f}", f"{after / warm:.2f}"]
    )
    print(table(["when", "VmRSS MiB", "x baseline"], rows))
    print(f"\nRSS ratio after/before (warm baseline): {after / warm:.3f}; "
          f"after/start-up: {after / idle:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
