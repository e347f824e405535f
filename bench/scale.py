"""Scale: the rows per second one PostgreSQL primary takes through mlgraph's group commit, and
one pod's classify rate, directly and through PgBouncer in transaction mode.

    .venv/bin/python bench/scale.py --duration 10 --rounds 3

Part ``primary``: in this process, W ``db.PredictionWriter``s, each with an engine and pool of
its own as W pods have, are fed by C concurrent callers each; every caller stores one-row calls
with a request id back to back (what classify hands the writer) for ``--duration`` seconds. Three
routes, interleaved and rotated per round: direct with the statement caches (the default),
direct without them (``MLGRAPH_DATABASE_STATEMENT_CACHE=false``), and through PgBouncer 1.18 in
transaction mode without them. Reported: rows committed per second, commits per second, calls
per commit, p50/p95 per call, the CPU spent per 1,000 rows by this process (mlgraph's side:
the writers, SQLAlchemy, asyncpg) and by the database's PostgreSQL backends (not the WAL writer
or checkpointer, which the shared server spends for everyone), and each route's rate as a ratio
of the default's. The rows stored are counted against the calls answered.

Part ``pod``: the seldon-core microservice alone, and one ``mlgraph serve`` (one worker) per
route (direct; through PgBouncer without the caches, LISTEN direct) loaded with wrk at
``--concurrency`` connections, one iris row per call; req/s and p50 per route and each as a
ratio of the model server alone, interleaved per round, stored rows checked as in classify.py.

Everything shares this machine's cores (the callers, mlgraph, PgBouncer, PostgreSQL): the
figures are this machine's, the ratios are what carries over. The load average before and after
is printed. The database and PgBouncer are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import (
    BODIES,
    PG,
    Run,
    asyncpg_url,
    count_rows,
    free_port,
    fresh_database,
    import_db,
    machine,
    need_wrk,
    percentile,
    settled_count,
    start_mlgraph,
    start_model,
    table,
    use_ref,
    wrk,
)

ROUTES = ("direct", "direct, no cache", "pgbouncer, no cache")


@contextlib.contextmanager
def pgbouncer(pool_size: int) -> Iterator[int]:
    """Debian's PgBouncer in transaction mode in front of the bench's PostgreSQL; its port."""
    binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
    if binary is None:
        raise SystemExit("pgbouncer is missing: apt-get install -y pgbouncer")
    port = free_port()
    user, host_port = PG.split("@")
    host, upstream_port = host_port.split(":")
    folder = Path(tempfile.mkdtemp(prefix="mlgraph-bench-pgbouncer-"))
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={host} port={upstream_port}\n\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\npool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmax_client_conn = 1000\n"
    )
    command = [binary]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        owner = pwd.getpwnam("postgres")
        for path in [folder, *folder.iterdir()]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command += ["-u", "postgres"]
    with open(folder / "pgbouncer.log", "wb") as log:
        process = subprocess.Popen([*command, str(folder / "pgbouncer.ini")], stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


TICKS = os.sysconf("SC_CLK_TCK")


def backend_seconds(database: str) -> float:
    """CPU (utime + stime) of the PostgreSQL backends serving ``database``: the shared server
    serves other clients too, so only the backends whose title names this database count."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f" {database} " not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


@dataclass
class WriterRun:
    route: str
    writers: int
    callers: int
    seconds: float
    calls: int
    commits: int
    times_ms: list[float]
    own_cpu: float  # this process: the callers, the writers, SQLAlchemy, asyncpg
    backend_cpu: float  # the database's PostgreSQL backends

    @property
    def rows_per_second(self) -> float:  # one row per call
        return self.calls / self.seconds

    def cpu_ms_per_1000_rows(self, seconds: float) -> float:
        return seconds * 1000 / self.calls * 1000 if self.calls else float("nan")


async def _write(
    url: str, database: str, cache: bool, writers: int, callers: int, duration: float
) -> WriterRun:
    db = import_db()
    from db.predictions import NewCall, NewPrediction

    row = NewPrediction(
        features=[5.1, 3.5, 1.4, 0.2], label="setosa", probabilities={"setosa": 0.97}
    )
    engines = [
        db.make_engine(url, pool_size=2, max_overflow=2, statement_cache=cache)
        for _ in range(writers)
    ]
    pods = [db.PredictionWriter(db.make_sessionmaker(engine)) for engine in engines]
    times: list[float] = []
    deadline = 0.0

    async def caller(writer: Any) -> None:
        while time.perf_counter() < deadline:
            call = NewCall(rows=[row], model_name="iris", model_version="1", latency_ms=1.0,
                           request_id=uuid.uuid4().hex)  # fmt: skip
            started = time.perf_counter()
            await writer.write(call)
            times.append((time.perf_counter() - started) * 1000)

    try:
        for writer in pods:  # connect the pools before the clock starts
            await writer.write(NewCall(rows=[row], model_name="iris", model_version="1",
                                       latency_ms=1.0))  # fmt: skip
        batches = sum(writer.batches for writer in pods)
        # Read before the pools close: a backend's CPU is gone with its process.
        own, backends = time.process_time(), backend_seconds(database)
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(caller(writer) for writer in pods for _ in range(callers)))
        seconds = time.perf_counter() - started
        own, backends = time.process_time() - own, backend_seconds(database) - backends
        commits = sum(writer.batches for writer in pods) - batches
    finally:
        for engine in engines:
            await engine.dispose()
    return WriterRun("", writers, callers, seconds, len(times), commits, times, own, backends)


def primary(args: argparse.Namespace, name: str, bouncer: int) -> tuple[list[WriterRun], bool]:
    urls = {
        "direct": (asyncpg_url(name), True),
        "direct, no cache": (asyncpg_url(name), False),
        "pgbouncer, no cache": (f"postgresql+asyncpg://{PG.split('@')[0]}@127.0.0.1:{bouncer}/"
                                f"{name}", False),
    }  # fmt: skip
    combos = [(w, c) for w in args.writers for c in args.callers]
    runs: list[WriterRun] = []
    consistent = True
    for route in ROUTES:  # warm-up: first connections, the server's caches
        url, cache = urls[route]
        asyncio.run(_write(url, name, cache, 1, 8, 1.0))
    for round_index in range(args.rounds):
        for index, (writers, callers) in enumerate(combos):
            shift = (round_index + index) % len(ROUTES)
            for route in ROUTES[shift:] + ROUTES[:shift]:
                url, cache = urls[route]
                before = count_rows(name, "predictions")
                run = asyncio.run(_write(url, name, cache, writers, callers, args.duration))
                run.route = route
                stored = count_rows(name, "predictions") - before
                ok = stored == run.calls + writers  # + each pool's one warm-up call
                consistent &= ok
                runs.append(run)
                print(
                    f"round {round_index + 1} W={writers} C={callers:<4} {route:<20} "
                    f"{run.rows_per_second:8.0f} rows/s  {run.commits / run.seconds:6.0f} "
                    f"commits/s  {run.calls / max(run.commits, 1):6.1f} calls/commit  "
                    f"p50 {statistics.median(run.times_ms):6.2f} ms  CPU ms/1k rows "
                    f"{run.cpu_ms_per_1000_rows(run.own_cpu):5.0f} here, "
                    f"{run.cpu_ms_per_1000_rows(run.backend_cpu):4.0f} PostgreSQL  stored {stored} "
                    f"{'OK' if ok else 'MISMATCH'}",
                    flush=True,
                )
    return runs, consistent


def primary_summary(runs: list[WriterRun], args: argparse.Namespace) -> str:
    rows = []
    for writers in args.writers:
        for callers in args.callers:
            same = [r for r in runs if (r.writers, r.callers) == (writers, callers)]
            base = statistics.median(r.rows_per_second for r in same if r.route == "direct")
            for route in ROUTES:
                mine = [r for r in same if r.route == route]
                rate = statistics.median(r.rows_per_second for r in mine)
                per_commit = statistics.median(r.calls / max(r.commits, 1) for r in mine)
                times = [t for r in mine for t in r.times_ms]
                own = statistics.median(r.cpu_ms_per_1000_rows(r.own_cpu) for r in mine)
                backend = statistics.median(r.cpu_ms_per_1000_rows(r.backend_cpu) for r in mine)
                rows.append([writers, callers, route, f"{rate:,.0f}", f"{per_commit:.1f}",
                             f"{statistics.median(times):.2f}", f"{percentile(times, 95):.2f}",
                             f"{own:.0f}", f"{backend:.0f}", f"{rate / base:.2f}"])  # fmt: skip
    headers = ["writers (pods)", "callers each", "route", "rows/s", "calls/commit",
               "p50 ms", "p95 ms", "mlgraph CPU ms/1k rows", "PostgreSQL CPU ms/1k rows",
               "x direct"]  # fmt: skip
    return table(headers, rows)


def pod(args: argparse.Namespace, name: str, bouncer: int, workdir: Path) -> tuple[list[Run], bool]:
    need_wrk()
    direct = asyncpg_url(name)
    pooled = f"postgresql+asyncpg://{PG.split('@')[0]}@127.0.0.1:{bouncer}/{name}"
    quiet = {"MLGRAPH_LOG_LEVEL": "warning"}
    servers = {}
    runs: list[Run] = []
    consistent = True
    try:
        servers["model"] = model = start_model(workdir)
        servers["mlgraph, direct"] = start_mlgraph(workdir, direct, model.url, quiet)
        servers["mlgraph, pgbouncer"] = start_mlgraph(
            workdir, pooled, model.url,
            {**quiet, "MLGRAPH_DATABASE_STATEMENT_CACHE": "false",
             "MLGRAPH_LISTEN_DATABASE_URL": direct},
            name="mlgraph-pgbouncer",
        )  # fmt: skip
        targets = list(servers)

        def url(target: str) -> str:
            path = "/api/v1.0/predictions" if target == "model" else "/graphql"
            return servers[target].url + path

        def body(target: str) -> str:
            return BODIES["direct"] if target == "model" else BODIES["mlgraph"]

        def mark(target: str) -> str:
            return "" if target == "model" else '"errors"'

        for target in targets:
            wrk(target, url(target), concurrency=8, duration=2, body=body(target),
                bad_mark=mark(target))  # fmt: skip
        time.sleep(2)
        for round_index in range(args.rounds):
            shift = round_index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                before = settled_count(name, "predictions") if target != "model" else 0
                run = wrk(target, url(target), concurrency=args.concurrency,
                          duration=args.duration, body=body(target),
                          bad_mark=mark(target))  # fmt: skip
                verdict = ""
                if target != "model":
                    stored = settled_count(name, "predictions") - before
                    ok = stored == run.sent and run.bad == 0
                    consistent &= ok
                    verdict = f"  stored {stored} of {run.sent} sent {'OK' if ok else 'MISMATCH'}"
                runs.append(run)
                print(f"round {round_index + 1} {target:<20} {run.rps:8.1f} req/s  p50 "
                      f"{run.p50_ms:6.2f}  p95 {run.p95_ms:6.2f} ms{verdict}",
                      flush=True)  # fmt: skip
    finally:
        for server in reversed(servers.values()):
            server.stop()
    return runs, consistent


def pod_summary(runs: list[Run]) -> str:
    targets = list(dict.fromkeys(r.target for r in runs))
    base = statistics.median(r.rps for r in runs if r.target == "model")
    direct = statistics.median(r.rps for r in runs if r.target == "mlgraph, direct")
    rows = []
    for target in targets:
        mine = [r for r in runs if r.target == target]
        rps = statistics.median(r.rps for r in mine)
        rows.append([target, f"{rps:.0f}", f"{statistics.median(r.p50_ms for r in mine):.2f}",
                     f"{statistics.median(r.p95_ms for r in mine):.2f}", f"{rps / base:.2f}",
                     f"{rps / direct:.2f}"])  # fmt: skip
    return table(["target", "req/s", "p50 ms", "p95 ms", "x model alone", "x mlgraph direct"],
                 rows)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--writers", default="1,4", help="writers (pods), comma-separated")
    parser.add_argument("--callers", default="1,32,256", help="callers per writer")
    parser.add_argument("--concurrency", type=int, default=32, help="wrk connections (pod)")
    parser.add_argument("--pool", type=int, default=20, help="PgBouncer's default_pool_size")
    parser.add_argument("--parts", default="primary,pod", help="primary, pod or both")
    parser.add_argument("--ref", help="run mlgraph from this commit (git archive), e.g. HEAD")
    args = parser.parse_args()
    args.writers = [int(x) for x in args.writers.split(",")]
    args.callers = [int(x) for x in args.callers.split(",")]
    parts = set(args.parts.split(","))
    if args.duration > 120 or args.rounds > 5 or max(args.writers) * max(args.callers) > 4096:
        parser.error("keep runs bounded: --duration <= 120, --rounds <= 5, writers x callers "
                     "<= 4096")  # fmt: skip
    if not parts <= {"primary", "pod"}:
        parser.error("--parts: primary, pod")

    info = machine()
    load_before = os.getloadavg()
    ok = True
    with (
        use_ref(args.ref) as code,
        tempfile.TemporaryDirectory(prefix="mlgraph-bench-") as tmp,
        fresh_database() as name,
        pgbouncer(args.pool) as bouncer,
    ):
        print(f"# scale benchmark, {info['date']}")
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; mlgraph at {code}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
        print(f"{args.duration:g} s per run, {args.rounds} round(s), routes rotated per round; "
              f"PgBouncer transaction mode, default_pool_size {args.pool}\n")  # fmt: skip
        if "primary" in parts:
            writer_runs, consistent = primary(args, name, bouncer)
            ok &= consistent
            print("\n## One primary through group commit (one-row calls with a request id)\n")
            print(primary_summary(writer_runs, args))
            print()
        if "pod" in parts:
            pod_runs, consistent = pod(args, name, bouncer, Path(tmp))
            ok &= consistent
            print(f"\n## One pod (mlgraph serve, 1 worker), wrk {args.concurrency} connections\n")
            print(pod_summary(pod_runs))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("every stored-row count matched" if ok else "MISMATCH in a stored-row count")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
