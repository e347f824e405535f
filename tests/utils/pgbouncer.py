"""A real PgBouncer (Debian's package) in transaction mode, started by a test on a free port.

Its ini and userlist go in a temporary folder; every database name is passed through to one
upstream server (a ``*`` entry), so ``url(direct_url)`` turns any test database's URL into the
same database through the pooler. ``stats()`` reads its admin console (``SHOW STATS``).
"""

from __future__ import annotations

import csv
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.modelserver import free_port
from tests.utils.postgres import postgres_bin

__all__ = [
    "PgBouncer",
    "interleave_transactions",
    "pgbouncer_binary",
    "run_pgbouncer",
    "start_pgbouncer",
]


def pgbouncer_binary() -> Path:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail("pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)")
    return Path(found)


@dataclass
class PgBouncer:
    """A running PgBouncer on 127.0.0.1:``port``; ``log`` holds what it wrote."""

    port: int
    folder: Path
    log: Path
    process: subprocess.Popen[bytes]
    user: str

    def url(self, direct_url: str) -> str:
        """``direct_url``'s database, user and driver, through this PgBouncer."""
        url = make_url(direct_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def stats(self) -> dict[str, dict[str, str]]:
        """``SHOW STATS`` per database (the admin console speaks only the simple protocol,
        which asyncpg cannot read rows from: psql does)."""
        command = [str(postgres_bin() / "psql"), "--csv", "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", self.user, "-d", "pgbouncer", "-c", "SHOW STATS"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        return {row["database"]: row for row in csv.DictReader(io.StringIO(result.stdout))}


@contextmanager
def start_pgbouncer(upstream_url: str, *, pool_size: int = 4) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of ``upstream_url``'s server (trust auth).

    ``pool_size`` server connections per database and user: fewer than the clients' pools, so
    clients really share server connections, as they do in production.
    """
    upstream = make_url(upstream_url)
    user = upstream.username or "postgres"
    folder = Path(tempfile.mkdtemp(prefix="mlgraph-pgbouncer-"))
    port = free_port()
    password = (upstream.password or "").replace('"', '""')
    (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={upstream.host or "127.0.0.1"} port={upstream.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
admin_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
"""
    )
    try:
        with run_pgbouncer(folder / "pgbouncer.ini", port, user=user) as bouncer:
            yield bouncer
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def run_pgbouncer(ini: Path, port: int, *, user: str = "postgres") -> Iterator[PgBouncer]:
    """Run the real PgBouncer on ``ini`` (which must listen on 127.0.0.1:``port``) until the
    block ends; its log goes beside the ini."""
    folder = ini.parent
    command = [str(pgbouncer_binary())]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; -u drops to the postgres user after start, which
        # must then still read its files.
        owner = pwd.getpwnam("postgres")
        for path in [folder, *folder.iterdir()]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command += ["-u", "postgres"]
    log = folder / "pgbouncer.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*command, str(ini)], stdout=out, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(port, folder, log, process, user)
    try:
        _wait_until_listening(bouncer)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def interleave_transactions(engine: AsyncEngine) -> None:
    """Two pooled connections in transactions at once, then one of them again.

    PgBouncer in transaction mode gives the two transactions two server connections, and the
    last transaction the one freed last (it reuses server connections last-in, first-out):
    not the one the first connection prepared its statement on. With statement caches on,
    that last statement fails (``prepared statement … does not exist``).
    """
    statement = text("SELECT 1")
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(statement)
        await second.execute(statement)
        await first.commit()
        await second.commit()
        await first.execute(statement)
        await first.commit()


def _wait_until_listening(bouncer: PgBouncer) -> None:
    for _ in range(200):
        if bouncer.process.poll() is not None:
            pytest.fail(
                f"pgbouncer exited ({bouncer.process.returncode}):\n{bouncer.log.read_text()}"
            )
        try:
            socket.create_connection(("127.0.0.1", bouncer.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"pgbouncer did not start listening:\n{bouncer.log.read_text()}")
