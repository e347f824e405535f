"""Throwaway PostgreSQL clusters for tests that must restart or replicate a server.

Each cluster lives in a temporary folder (``initdb``), listens on a free port on 127.0.0.1 and
keeps its socket in that folder: the shared server on 5432 is never touched. ``replica_of``
makes a streaming replica of a running cluster with ``pg_basebackup -R``.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from scripts.modelserver import free_port

__all__ = [
    "Cluster",
    "autocommit",
    "postgres_bin",
    "replica_of",
    "throwaway_cluster",
    "wait_for_replay",
]

PG_ROOT = Path("/usr/lib/postgresql")


def postgres_bin() -> Path:
    """The newest installed server's bin folder (Debian keeps it off PATH)."""
    versions = sorted(
        (p for p in PG_ROOT.glob("*") if p.name.isdigit() and (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name),
    )
    if versions:
        return versions[-1] / "bin"
    found = shutil.which("initdb")
    if found is None:
        pytest.fail(
            f"initdb is not installed (looked in {PG_ROOT}/<version>/bin and PATH): install the "
            "PostgreSQL server package; this test needs a cluster of its own"
        )
    return Path(found).parent


@dataclass
class Cluster:
    """A PostgreSQL cluster in ``data``, listening on 127.0.0.1:``port`` only."""

    bin: Path
    data: Path
    port: int
    log: Path
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str) -> None:
        # initdb refuses to run as root, and the server must own its data folder.
        command = [*self.as_postgres, str(self.bin / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command} failed:\n{result.stdout}{result.stderr}\n{log}")

    def ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
                 "-o", options, *args)  # fmt: skip


def _folder(prefix: str) -> tuple[Path, list[str]]:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() != 0:
        return folder, []
    user = pwd.getpwnam("postgres")
    os.chown(folder, user.pw_uid, user.pw_gid)
    return folder, ["runuser", "-u", "postgres", "--"]


@contextmanager
def throwaway_cluster(prefix: str = "mlgraph-pg-") -> Iterator[Cluster]:
    """``initdb`` + ``pg_ctl start`` on a free port; stopped and removed at the end."""
    folder, as_postgres = _folder(prefix)
    cluster = Cluster(postgres_bin(), folder / "data", free_port(), folder / "postgres.log",
                      as_postgres)  # fmt: skip
    started = False
    try:
        # initdb's default pg_hba.conf trusts replication connections from 127.0.0.1 too.
        cluster.run("initdb", "-D", str(cluster.data), "--auth=trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync")  # fmt: skip
        cluster.ctl("start")
        started = True
        yield cluster
    finally:
        if started:
            cluster.ctl("stop", "-m", "immediate")
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def replica_of(primary: Cluster) -> Iterator[Cluster]:
    """A hot standby streaming from ``primary``, in a folder and on a port of its own."""
    folder, as_postgres = _folder("mlgraph-replica-")
    replica = Cluster(primary.bin, folder / "data", free_port(), folder / "postgres.log",
                      as_postgres)  # fmt: skip
    started = False
    try:
        # -R writes standby.signal and primary_conninfo; a fast checkpoint starts the copy now.
        replica.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-D", str(replica.data), "-R", "-X", "stream", "--checkpoint=fast",
                    "--no-sync")  # fmt: skip
        replica.ctl("start")
        started = True
        yield replica
    finally:
        if started:
            replica.ctl("stop", "-m", "immediate")
        shutil.rmtree(folder, ignore_errors=True)


async def autocommit(url: str, statement: str) -> object:
    """Run one statement outside a transaction (as CREATE DATABASE needs, and a replica's
    recovery functions); its first value, if it returns rows."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def wait_for_replay(primary_url: str, replica_url: str) -> None:
    """Until the replica has replayed everything the primary had written when called."""
    position = await autocommit(primary_url, "SELECT pg_current_wal_lsn()::text")
    query = f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn"
    for _ in range(600):
        if await autocommit(replica_url, query):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the replica never replayed up to {position}")
