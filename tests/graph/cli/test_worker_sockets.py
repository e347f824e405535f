"""With several workers, each listens on a socket of its own (SO_REUSEPORT), so connections
opened together are spread across them instead of landing on whichever worker woke first."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from graph.cli._workers import bind_per_worker
from tests.utils.serve import Mlgraph, run_mlgraph, stub_model, wait_for_workers

pytestmark = pytest.mark.postgres_only

BURST = 64


def _listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (IPv4), from the kernel's own table."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if int(local.split(":")[1], 16) == port and state == "0A":  # TCP_LISTEN
            count += 1
    return count


def _worker_pids(server: Mlgraph) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    pids = {int(pid) for pid in children.read_text().split()}
    # multiprocessing's spawn starts a resource tracker beside the workers.
    return {pid for pid in pids if "resource_tracker" not in _cmdline(pid)}


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def _burst(url: str) -> None:
    # BURST connections opened at once (as a client's pool or wrk opens them), one call each.
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        answers = await asyncio.gather(*(http.get("/healthz") for _ in range(BURST)))
    assert all(a.status_code == 200 for a in answers)


def _answered_by(log: Path, after: int) -> collections.Counter[int]:
    entries = map(json.loads, log.read_text().splitlines()[after:])
    return collections.Counter(
        e["pid"] for e in entries if e.get("message") == "request" and e.get("path") == "/healthz"
    )


def _bursts(server: Mlgraph, times: int) -> list[collections.Counter[int]]:
    shares = []
    for _ in range(times):
        before = len(server.log.read_text().splitlines())
        asyncio.run(_burst(server.url))
        for _ in range(50):  # each worker writes its own lines
            if sum(_answered_by(server.log, before).values()) >= BURST:
                break
            time.sleep(0.05)
        shares.append(_answered_by(server.log, before))
    return shares


@contextmanager
def _two_workers(database_url: str, tmp_path: Path) -> Iterator[tuple[Mlgraph, int]]:
    """``mlgraph serve`` with two workers, both started; yields it and its port."""
    with (
        stub_model() as model_url,
        run_mlgraph(
            database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url,
            MLGRAPH_WORKERS="2", MLGRAPH_LOG_LEVEL="info",
        ) as server,
    ):  # fmt: skip
        wait_for_workers(server, 2)
        yield server, int(server.url.rsplit(":", 1)[1])


def test_each_worker_has_a_socket_and_connections_opened_together_are_spread(
    dialect: str, database_url: str, tmp_path: Path
) -> None:
    with _two_workers(database_url, tmp_path) as (server, port):
        assert _listening_sockets(port) == 2
        workers = _worker_pids(server)
        shares = _bursts(server, 5)
    assert len(workers) == 2, workers
    for share in shares:
        # The kernel hashes each connection to a socket: a split worse than 16 of 64 comes
        # about once in 10^4 bursts. One socket shared by both gave one worker all 64 in one
        # burst of eight.
        assert set(share) == workers, shares
        assert min(share.values()) >= BURST // 4, shares


def test_a_worker_that_dies_is_replaced_on_its_socket(
    dialect: str, database_url: str, tmp_path: Path
) -> None:
    with _two_workers(database_url, tmp_path) as (server, port):
        first = _worker_pids(server)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        wait_for_workers(server, 3)
        workers = _worker_pids(server)
        # No socket was lost or added: the replacement listens on the dead worker's.
        assert _listening_sockets(port) == 2
        shares = _bursts(server, 2)
    assert killed not in workers
    assert len(workers) == 2
    assert workers & first == first - {killed}
    for share in shares:
        assert set(share) == workers, shares


def test_a_second_server_on_the_same_port_is_refused_in_one_line(
    dialect: str, database_url: str, tmp_path: Path
) -> None:
    with _two_workers(database_url, tmp_path) as (server, port):
        second = subprocess.run(
            [str(Path(sys.executable).parent / "mlgraph"), "serve"],
            env={**server.environment, "MLGRAPH_LOG_LEVEL": "info"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # The first keeps both its sockets: the second never joined them.
        assert _listening_sockets(port) == 2
    assert second.returncode == 3, second.stderr
    errors = [
        json.loads(line)
        for line in (second.stdout + second.stderr).splitlines()
        if '"level":"error"' in line
    ]
    assert len(errors) == 1, second.stdout + second.stderr
    assert errors[0]["message"].startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in second.stdout + second.stderr


def test_bind_per_worker_takes_one_free_port_for_every_socket() -> None:
    sockets = bind_per_worker("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
