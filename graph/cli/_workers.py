"""Several uvicorn workers, each accepting connections on a listening socket of its own.

uvicorn's supervisor hands every worker the one socket it bound. A worker's event loop accepts
every connection waiting when it wakes, so connections opened together (a client's pool, a
proxy reconnecting after a deploy) land mostly on whichever worker woke first: 28 of wrk's 32
in bench/RESULTS.md. Keep-alive connections stay where they landed, so that worker does most of
the work while the other idles, and each sends the model smaller batches than one worker would.

Here each worker gets its own socket bound to the same address with ``SO_REUSEPORT``, and the
kernel hands each new connection to one of them by a hash of its addresses, as nginx's
``listen ... reuseport`` does. The supervisor is uvicorn's own (it replaces a worker that dies,
restarts them all on SIGHUP, stops on SIGTERM); only which socket each worker gets differs. A
worker's socket stays open in the supervisor, so connections hashed to a worker that died wait
in its backlog for the replacement instead of being refused.

Linux only: elsewhere ``SO_REUSEPORT`` does not spread connections (on macOS the last socket
bound takes them all), so there the workers share one socket as uvicorn binds it.
"""

from __future__ import annotations

import logging
import socket
import sys

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

__all__ = ["SocketPerWorker", "bind_per_worker", "spreads_connections"]

logger = logging.getLogger("mlgraph.serve")


def spreads_connections() -> bool:
    """Whether this system's ``SO_REUSEPORT`` spreads connections across sockets."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def bind_per_worker(host: str, port: int, workers: int) -> list[socket.socket]:
    """``workers`` sockets bound to ``host:port`` with ``SO_REUSEPORT`` (not yet listening:
    each worker's server listens on its own).

    The address is first bound once without ``SO_REUSEPORT``: that fails when anything holds
    it, a second ``mlgraph serve`` included, which would otherwise join the group silently and
    take a share of the connections. Raises ``OSError`` as ``bind`` does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        # Port 0 picks a free port once; every worker's socket then takes that one.
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class SocketPerWorker(Multiprocess):
    """uvicorn's ``Multiprocess`` supervisor with worker ``i`` always on ``sockets[i]``
    (``bind_per_worker``): a worker that replaces another takes over its socket."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=sockets)
        self.processes_num = len(sockets)

    def _process(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._process(slot) for slot in range(self.processes_num)]

    # The two methods below are uvicorn's, but a worker's replacement gets its socket.

    def keep_subprocess_alive(self) -> None:
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It never served: the app, the socket or the settings are broken and every
                # replacement would fail the same way.
                logger.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker %s died; starting another on its socket", process.pid)
            self.processes[slot] = self._process(slot)

    def restart_all(self) -> None:
        # SIGHUP: one worker at a time, the old one retired once its replacement serves.
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(slot)
            timeout = self.config.timeout_worker_healthcheck
            if not new.wait_until_ready(timeout, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error("worker %s was not ready in time; keeping %s", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        self._fixed_count("SIGTTIN")

    def handle_ttou(self) -> None:
        self._fixed_count("SIGTTOU")

    def _fixed_count(self, signal: str) -> None:
        logger.warning(
            "%s ignored: each worker has a socket of its own, bound at start-up; to change the "
            "number of workers, restart with another MLGRAPH_WORKERS",
            signal,
        )
