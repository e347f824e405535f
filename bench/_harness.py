"""What every benchmark shares: servers as subprocesses, a throwaway database and wrk.

Everything listens on 127.0.0.1, every load run is bounded by ``wrk -d`` and every process and
database made here is removed on exit. Not a test module: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PROJECT_BIN = ROOT / ".venv" / "bin"
BENCH_BIN = BENCH / ".venv" / "bin"
LUA = BENCH / "post.lua"
PG = "postgres@127.0.0.1:5432"

if str(ROOT) not in sys.path:
    # Lets the benchmarks import scripts.modelserver (and db/ for EXPLAIN) from the checkout.
    sys.path.insert(0, str(ROOT))

from scripts.modelserver import ModelServer, start_mlserver, start_seldon  # noqa: E402 - needs the path above

# One iris row per call, as in PERF.md's figures.
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
CLASSIFY_QUERY = (
    "mutation Classify($rows: [[Float!]!]!) { classify(input: {rows: $rows}) "
    "{ predictions { id label probabilities { label probability } } } }"
)
BODIES = {
    "direct": json.dumps({"data": {"ndarray": [IRIS_ROW]}}),
    "mlgraph": json.dumps({"query": CLASSIFY_QUERY, "variables": {"rows": [IRIS_ROW]}}),
    "seed": json.dumps({"rows": [IRIS_ROW]}),
}


# Where mlgraph runs from: the checkout as it is, or a snapshot of a commit (use_ref).
SOURCE = ROOT


@contextlib.contextmanager
def use_ref(ref: str | None) -> Iterator[str]:
    """Run mlgraph from ``git archive ref`` instead of the work tree (which others may be
    editing); yields a description of the code under test."""
    global SOURCE
    if ref is None:
        yield machine()["commit"]
        return
    with checkout(ref) as (commit, tree):
        SOURCE = tree
        try:
            yield f"{commit} (git archive {ref})"
        finally:
            SOURCE = ROOT


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[tuple[str, Path]]:
    """``git archive ref`` unpacked in a temporary folder: yields (short commit, folder)."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mlgraph-src-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield commit, Path(tmp)


def mlgraph_command(*args: str | int) -> list[str]:
    """``mlgraph ARGS`` run from SOURCE with the project venv's Python."""
    return [str(PROJECT_BIN / "python"), "-m", "graph.cli", *[str(a) for a in args]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine() -> dict[str, str]:
    """nproc and the CPU model, for the results table."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "graph", "db", "mlclient"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": commit + (" (+uncommitted changes in graph/db/mlclient)" if dirty else ""),
    }


# --- processes -------------------------------------------------------------------------------


class Server(ModelServer):
    """A process the bench started: stopped with its whole process group, like the model
    servers (scripts/modelserver.py), so no worker outlives a run."""

    @property
    def name(self) -> str:
        return self.kind

    @property
    def pid(self) -> int:
        return self.process.pid


def wait_http(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(server.url + path, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    server.stop()
    tail = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{server.name} did not answer {path}:\n{tail}")


def spawn(
    name: str, command: Sequence[str | Path], workdir: Path, env: dict[str, str], cwd: Path = ROOT
) -> Server:
    port = int(env["BENCH_PORT"])
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(c) for c in command],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Server.stop ends its children too
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def start_model(workdir: Path, threads: int = 1, kind: str = "seldon") -> Server:
    """The real model server, via scripts/modelserver.py: ``kind`` "seldon" is the seldon-core
    microservice (1 gunicorn worker; ``threads`` > 1 runs gunicorn's threaded worker, which
    keeps connections alive), "mlserver" is MLServer (V2, settings from deploy/model/mlserver).
    """
    if kind == "mlserver":
        model = start_mlserver(workdir)
    else:
        model = start_seldon(workdir, threads=threads)
    return Server(kind, model.url, model.process, model.log)


# What each protocol's direct call, mlgraph's settings and the seed wrapper need.
V2_BODY = json.dumps({
    "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}],
    "outputs": [{"name": "predict_proba"}],
})  # fmt: skip
PROTOCOLS: dict[str, dict[str, Any]] = {
    "seldon": {
        "path": "/api/v1.0/predictions",
        "body": BODIES["direct"],
        "mlgraph_env": {},
        "seed_env": {"SEED_PROTOCOL": "seldon"},
    },
    "mlserver": {
        "path": "/v2/models/iris/infer",
        "body": V2_BODY,
        "mlgraph_env": {
            "MLGRAPH_MODEL_PROTOCOL": "v2",
            "MLGRAPH_MODEL_CLASS_NAMES": '["setosa","versicolor","virginica"]',
        },
        "seed_env": {"SEED_PROTOCOL": "v2"},
    },
}


def start_mlgraph(
    workdir: Path,
    database_url: str,
    model_url: str,
    extra_env: dict[str, str] | None = None,
    *,
    app: str | None = None,
    name: str = "mlgraph",
    source: Path | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 60.0,
) -> Server:
    """``mlgraph serve`` with one worker and otherwise its default settings.

    ``app`` ("module:factory" in bench/, see _levers.py) runs that factory under uvicorn with
    the same options ``mlgraph serve`` uses, to measure a lever against the unchanged app.
    ``source`` runs mlgraph from that tree (see ``checkout``) instead of SOURCE. ``prefix``
    runs the command under another program (valgrind, in instructions.py), which may need more
    than the default ``timeout`` to answer ``/healthz``.
    """
    source = source or SOURCE
    port = free_port()
    env = {
        "BENCH_PORT": str(port),
        "MLGRAPH_DATABASE_URL": database_url,
        "MLGRAPH_MODEL_URL": model_url,
        "MLGRAPH_WORKERS": "1",
        **(extra_env or {}),
    }
    command = mlgraph_command("serve", "--port", port)
    if app is not None:
        command = [
            str(PROJECT_BIN / "python"), "-m", "uvicorn", app, "--factory",
            "--app-dir", str(BENCH), "--host", "127.0.0.1", "--port", str(port),
            "--workers", env["MLGRAPH_WORKERS"], "--proxy-headers",
        ]  # fmt: skip
        # --app-dir puts bench/ first on sys.path; SOURCE must still provide graph/.
        env["PYTHONPATH"] = str(source)
    server = spawn(name, [*prefix, *command], workdir, env, source)
    wait_http(server, "/healthz", timeout)
    return server


def start_seed(
    workdir: Path, database_name: str, model_url: str, extra_env: dict[str, str] | None = None
) -> Server:
    """bench/seed_wrapper.py under uvicorn (one worker), from the bench venv."""
    if not (BENCH_BIN / "uvicorn").exists():
        raise SystemExit("bench/.venv is missing: see bench/README.md (make the bench venv)")
    port = free_port()
    env = {
        "BENCH_PORT": str(port),
        "SEED_DATABASE_URL": f"postgresql+psycopg://{PG}/{database_name}",
        "SEED_MODEL_URL": model_url,
        **(extra_env or {}),
    }
    command = [
        BENCH_BIN / "uvicorn", "seed_wrapper:app", "--app-dir", BENCH,
        "--host", "127.0.0.1", "--port", port, "--workers", "1",
    ]  # fmt: skip
    server = spawn("seed", command, workdir, env)
    wait_http(server, "/health")
    return server


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and its children (uvicorn may fork a worker), in KiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


# --- the database ----------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"postgresql://{PG}/postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new ``mlgraph_bench_<random>`` database migrated by ``mlgraph migrate``; dropped after."""
    name = f"mlgraph_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    try:
        env = {**os.environ, "MLGRAPH_DATABASE_URL": asyncpg_url(name)}
        subprocess.run(mlgraph_command("migrate"), env=env, check=True, cwd=SOURCE)
        yield name
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def add_pair_arguments(parser: argparse.ArgumentParser, *, measured: str) -> None:
    """The arguments of a bench that runs two commits side by side (cpu_pair, instructions)."""
    parser.add_argument("--ref-a", required=True, help="the reference commit, e.g. main~3")
    parser.add_argument("--ref-b", default="HEAD", help=f"the commit {measured} against it")
    parser.add_argument("--model", choices=sorted(PROTOCOLS), default="seldon")
    parser.add_argument(
        "--log-level", default="warning", help="MLGRAPH_LOG_LEVEL (info: a line per call)"
    )


def checkout_pair(
    stack: contextlib.ExitStack, ref_a: str, ref_b: str
) -> dict[str, tuple[str, Path]]:
    """Both sides' snapshots (``checkout``), removed when ``stack`` closes: {side: (commit,
    tree)}."""
    return {side: stack.enter_context(checkout(ref)) for side, ref in (("a", ref_a), ("b", ref_b))}


def import_db() -> Any:
    """mlgraph's ``db`` package from SOURCE (the work tree, or ``use_ref``'s snapshot)."""
    if str(SOURCE) not in sys.path:
        sys.path.insert(0, str(SOURCE))
    import db

    return db


async def make_partitions(database_name: str, *, first: datetime, months: int) -> list[str]:
    """The monthly partitions of ``months`` months from ``first``'s, made by mlgraph's own
    ``db.partitions.maintain`` (as ``mlgraph maintain`` would have): rows seeded into those
    months land in their month, not in the DEFAULT partition. Returns the partitions made."""
    db = import_db()
    engine = db.make_engine(asyncpg_url(database_name))
    try:
        async with db.make_sessionmaker(engine).begin() as session:
            report = await db.partitions.maintain(
                session,
                now=db.partitions.month_start(first, 0),
                retention_months=1,
                months_ahead=months,
            )
    finally:
        await engine.dispose()
    return list(report.created)


def asyncpg_url(database_name: str) -> str:
    return f"postgresql+asyncpg://{PG}/{database_name}"


async def _count(database_name: str, table: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(f"postgresql://{PG}/{database_name}")
    try:
        exists = await connection.fetchval("SELECT to_regclass($1)", table)
        return int(await connection.fetchval(f"SELECT count(*) FROM {table}")) if exists else 0
    finally:
        await connection.close()


def count_rows(database_name: str, table: str) -> int:
    return asyncio.run(_count(database_name, table))


def settled_count(database_name: str, table: str, timeout: float = 15.0) -> int:
    """The row count once requests still in flight when wrk stopped have committed."""
    deadline = time.monotonic() + timeout
    last, stable_since = count_rows(database_name, table), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = count_rows(database_name, table)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            break
    return last


# --- load ------------------------------------------------------------------------------------


@dataclass
class Run:
    """One wrk run against one target."""

    target: str
    concurrency: int
    requests: int
    seconds: float
    sent: int
    ok: int
    bad: int
    socket_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def need_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is missing: apt-get update && apt-get install -y wrk")
    return wrk


def wrk(
    target: str,
    url: str,
    *,
    concurrency: int,
    duration: float,
    body: str = "",
    method: str = "POST",
    bad_mark: str = "",
    threads: int = 1,
) -> Run:
    """Run wrk for ``duration`` seconds with ``concurrency`` connections and parse its summary.

    One wrk thread by default: it needs far less than a core at these rates, and the servers
    need every core they can get on a 2-core machine.
    """
    command = [
        need_wrk(), "-t", str(min(threads, concurrency)), "-c", str(concurrency),
        "-d", f"{duration:g}s", "--timeout", "30s", "-s", str(LUA), url,
    ]  # fmt: skip
    env = {**os.environ, "WRK_METHOD": method, "WRK_BODY": body, "WRK_BAD_MARK": bad_mark}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return Run(
        target=target,
        concurrency=concurrency,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        # wrk calls request() once more on its first thread to verify the script.
        sent=data["sent"] - 1,
        ok=data["ok"],
        bad=data["bad"],
        socket_errors=data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def scrape_metrics(base_url: str) -> dict[str, float]:
    """Each sample of mlgraph's /metrics, summed over its labels: {name: value}
    (``mlgraph serve`` sums its workers')."""
    totals: dict[str, float] = {}
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.split("{", 1)[0].split(" ", 1)[0], line.rsplit(" ", 1)[1]
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def requests_per_worker(log: Path, offset: int) -> list[int]:
    """How many requests each worker of ``mlgraph serve`` logged after byte ``offset`` of its
    log, most first: the JSON request lines carry the worker's pid (at level info; none at
    warning). With several workers it shows how evenly they shared the connections."""
    counts: dict[int, int] = {}
    with log.open("rb") as lines:
        lines.seek(offset)
        for line in lines:
            if b'"logger":"mlgraph.request"' in line:
                pid = json.loads(line)["pid"]
                counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, like numpy's default."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table, readable in a terminal too."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
