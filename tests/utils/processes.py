"""A real seldon-core model server that a test may pause, kill and restart on the same port."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from scripts.modelserver import ModelServer, start_seldon

__all__ = ["RestartableSeldon", "descendants"]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class RestartableSeldon:
    """The current seldon-core server on ``port``; ``kill`` takes down its whole process tree
    at once, ``start`` brings up a new one on the same port."""

    workdir: Path
    port: int
    version: str = "faults-1"
    server: ModelServer | None = None
    generation: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.generation += 1
        workdir = self.workdir / f"seldon-{self.generation}"
        workdir.mkdir()
        self.server = start_seldon(workdir, port=self.port, version=self.version)

    def pause(self) -> None:
        """SIGSTOP every process of the server: connections are still accepted by the kernel,
        but nothing answers, so calls stay in flight until ``kill``."""
        self._signal(signal.SIGSTOP)

    def kill(self) -> None:
        if self.server is None:
            return
        # seldon-core forks workers (and a metrics process); SIGKILL to the parent alone would
        # leave them serving the port, so every process in the tree goes at the same moment.
        self._signal(signal.SIGKILL)
        self.server.process.wait(timeout=15)
        self.server = None

    def _signal(self, sig: signal.Signals) -> None:
        if self.server is None:
            return
        for pid in [self.server.process.pid, *descendants(self.server.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
