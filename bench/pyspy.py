"""Profile ``mlgraph serve`` under classify load with py-spy and print the top frames.

    .venv/bin/python bench/pyspy.py --duration 20 --concurrency 32

Starts the model server (the seldon microservice, or MLServer with ``--model mlserver``) and
mlgraph on a fresh PostgreSQL database, drives classify with wrk, and meanwhile records
mlgraph's worker with py-spy twice: collapsed stacks (to rank frames here) and then a flame
graph, bench/profile.svg. Needs py-spy from the bench venv (or PATH) and
the right to ptrace (root, or CAP_SYS_PTRACE in a container).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from _harness import (
    BENCH,
    BENCH_BIN,
    BODIES,
    PROTOCOLS,
    asyncpg_url,
    fresh_database,
    machine,
    start_mlgraph,
    start_model,
    table,
    use_ref,
    wrk,
)

# "function (path/to/module.py:123)" as py-spy writes each frame of a collapsed stack.
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per py-spy recording")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--svg", type=Path, default=BENCH / "profile.svg")
    parser.add_argument("--raw", type=Path, default=BENCH / "profile.txt")
    parser.add_argument("--app", metavar="MODULE:FACTORY", help="profile a lever, see _levers.py")
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    parser.add_argument(
        "--model", choices=sorted(PROTOCOLS), default="seldon",
        help="the model server: seldon (v1 protocol) or mlserver (V2, Open Inference Protocol)",
    )  # fmt: skip
    parser.add_argument(
        "--model-threads", type=int, default=1,
        help="gunicorn threads of the seldon model server; above 1 it keeps connections alive",
    )  # fmt: skip
    parser.add_argument(
        "--mlgraph-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra MLGRAPH_* settings for mlgraph",
    )  # fmt: skip
    args = parser.parse_args()
    if args.duration > 120:
        parser.error("keep runs bounded: --duration <= 120")
    py_spy = find_py_spy()
    extra_env = {
        **PROTOCOLS[args.model]["mlgraph_env"],
        **dict(item.split("=", 1) for item in args.mlgraph_env),
    }

    info = machine()
    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
    ):
        print(f"# mlgraph profile, {info['date']}, nproc={info['nproc']}, {info['cpu']}")
        print(f"mlgraph at {code}" + (f", app {args.app}" if args.app else "") +
              f"; model server {args.model}")  # fmt: skip
        workdir = Path(tmp)
        model = start_model(workdir, args.model_threads, args.model)
        try:
            mlgraph = start_mlgraph(workdir, asyncpg_url(name), model.url, extra_env, app=args.app)
            try:
                # One wrk run spans both recordings, plus a little warm-up before them.
                load: dict[str, object] = {}
                total = 2 * args.duration + 8
                thread = threading.Thread(
                    target=lambda: load.update(run=wrk("mlgraph", mlgraph.url + "/graphql",
                        concurrency=args.concurrency, duration=total, body=BODIES["mlgraph"],
                        bad_mark='"errors"')),
                    daemon=True,
                )  # fmt: skip
                thread.start()
                threading.Event().wait(3)
                record(py_spy, mlgraph.pid, args.duration, args.rate, args.raw, args.svg)
                thread.join(timeout=total + 90)
            finally:
                mlgraph.stop()
        finally:
            model.stop()

    run = load.get("run")
    if run is not None:
        print(f"load during the profile: {run.rps:.1f} req/s, p50 {run.p50_ms:.1f} ms "  # type: ignore[attr-defined]
              f"at {args.concurrency} clients")  # fmt: skip
    print(f"flame graph: {args.svg}; collapsed stacks: {args.raw}\n")
    print(report(args.raw.read_text(), args.top))
    return 0


def find_py_spy() -> str:
    py_spy = shutil.which("py-spy", path=str(BENCH_BIN)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is missing: bench/.venv/bin/pip install py-spy")
    return py_spy


def record(py_spy: str, pid: int, seconds: int, rate: int, raw: Path, svg: Path) -> None:
    """Two py-spy recordings of ``pid``, one after the other: collapsed stacks, then an SVG."""
    base = [py_spy, "record", "--pid", str(pid), "--subprocesses",
            "--duration", str(seconds), "--rate", str(rate)]  # fmt: skip
    for form, out in (("raw", raw), ("flamegraph", svg)):
        subprocess.run([*base, "--format", form, "-o", str(out)], check=True,
                       capture_output=True, timeout=seconds + 60)  # fmt: skip


def _frame(raw: str) -> tuple[str, str]:
    match = FRAME.match(raw)
    if not match:
        return raw, ""
    path = match["file"]
    marker = "site-packages/"
    if marker in path:
        path = path.split(marker, 1)[1]
    elif "/work/" in path or path.startswith("/"):
        path = path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] if "/" in path else path
    return match["func"], path


def _package(path: str) -> str:
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") if head else "?"


def report(collapsed: str, top: int) -> str:
    """Self time and total time per function, and self time per package, from py-spy's raw."""
    self_time: collections.Counter[tuple[str, str]] = collections.Counter()
    total_time: collections.Counter[tuple[str, str]] = collections.Counter()
    package_time: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # py-spy's first frame names the process/thread: "process 123:\"...\""; skip it.
        frames = [_frame(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        self_time[frames[-1]] += count
        package_time[_package(frames[-1][1])] += count
        for frame in set(frames):
            total_time[frame] += count

    def pct(n: int) -> str:
        return f"{100 * n / samples:.1f}%"

    out = [f"{samples} samples (active threads only)\n", "## Self time by package\n"]
    out.append(table(["package", "self"], [[p, pct(n)] for p, n in package_time.most_common(12)]))
    out.append("\n## Top frames by self time\n")
    rows = [[f, p, pct(n)] for (f, p), n in self_time.most_common(top)]
    out.append(table(["function", "file", "self"], rows))
    out.append("\n## Top frames by total (inclusive) time\n")
    rows = [[f, p, pct(n)] for (f, p), n in total_time.most_common(top)]
    out.append(table(["function", "file", "total"], rows))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
