"""A real ``mlgraph serve`` subprocess, a stub Seldon model and a graphql-transport-ws client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from scripts.modelserver import free_port

__all__ = [
    "LiveClient",
    "Mlgraph",
    "metric",
    "mlgraph_command",
    "run_mlgraph",
    "serve_mlgraph",
    "stub_label",
    "stub_model",
    "wait_for_metric",
]


def stub_label(row: list[float]) -> str:
    """What the stub model answers for a row: a label chosen by the first feature."""
    return "setosa" if row[0] < 5 else "virginica"


class _StubServer(ThreadingHTTPServer):
    # The headers of each prediction call, for tests that check what mlgraph sends.
    headers_seen: list[dict[str, str]]


class _StubModel(BaseHTTPRequestHandler):
    server: _StubServer

    def do_POST(self) -> None:
        self.server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        rows = json.loads(self.rfile.read(int(self.headers["content-length"])))["data"]["ndarray"]
        body = json.dumps({"data": {"ndarray": [stub_label(row) for row in rows]}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # /health/ping
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def stub_model(headers_seen: list[dict[str, str]] | None = None) -> Iterator[str]:
    """A Seldon v1 stand-in labelling rows with ``stub_label``; yields its base URL.

    ``headers_seen`` receives the headers (lower-case names) of every prediction call.
    """
    server = _StubServer(("127.0.0.1", 0), _StubModel)
    server.headers_seen = headers_seen if headers_seen is not None else []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mlgraph:
    """A running ``mlgraph serve``: its base URL, its process, its log and its environment
    (for commands that must see the same settings)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    environment: dict[str, str]


@contextmanager
def run_mlgraph(database_url: str, log: Path, **environment: str) -> Iterator[Mlgraph]:
    """Run ``mlgraph serve`` on a free port until the block ends (or the test stops it).

    ``environment`` adds or overrides ``MLGRAPH_*`` variables (e.g. ``MLGRAPH_MODEL_URL``).
    """
    port = free_port()
    env = {
        **os.environ,
        "MLGRAPH_DATABASE_URL": database_url,
        "MLGRAPH_MODEL_VERSION": "v1",
        "MLGRAPH_PORT": str(port),
        "MLGRAPH_LOG_LEVEL": "warning",
        # One process unless a test asks for more: the tests look at one process's state.
        "MLGRAPH_WORKERS": "1",
        **environment,
    }
    mlgraph = Path(sys.executable).parent / "mlgraph"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(mlgraph), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Mlgraph(f"http://127.0.0.1:{port}", process, log, env)
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"mlgraph exited ({process.returncode}):\n{log.read_text()}")
            try:
                if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("mlgraph did not start:\n" + log.read_text())
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_workers(server: Mlgraph, started: int) -> None:
    """Wait until ``started`` workers have finished start-up (the first to start already
    answered ``/healthz``); needs ``MLGRAPH_LOG_LEVEL=info``."""
    for _ in range(300):
        if server.log.read_text().count("Application startup complete") >= started:
            return
        time.sleep(0.1)
    pytest.fail("the workers did not start:\n" + server.log.read_text())


def mlgraph_command(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run one ``mlgraph`` sub-command to its end with ``MLGRAPH_*`` ``environment`` added."""
    mlgraph = Path(sys.executable).parent / "mlgraph"
    return subprocess.run(
        [str(mlgraph), *args],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@contextmanager
def serve_mlgraph(database_url: str, log: Path, **environment: str) -> Iterator[str]:
    """``run_mlgraph``, yielding only the base URL."""
    with run_mlgraph(database_url, log, **environment) as server:
        yield server.url


async def metric(client: httpx.AsyncClient, name: str) -> float:
    """The value of an unlabelled metric at ``/metrics`` (0 when absent)."""
    response = await client.get("/metrics")
    for line in response.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def wait_for_metric(client: httpx.AsyncClient, name: str, value: float) -> None:
    """Poll until the metric reaches ``value`` (bounded; fails the test otherwise)."""
    for _ in range(300):
        if await metric(client, name) >= value:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{name} never reached {value}")


class LiveClient:
    """A minimal graphql-transport-ws client: one connection, several subscriptions by id."""

    def __init__(self, base_url: str, *, payload: dict[str, Any] | None = None) -> None:
        self.url = base_url.replace("http", "ws", 1) + "/graphql"
        self.payload = payload or {}
        self._connection: ClientConnection | None = None

    async def __aenter__(self) -> LiveClient:
        self._connection = await connect(
            self.url, subprotocols=[Subprotocol("graphql-transport-ws")]
        )
        await self._connection.send(
            json.dumps({"type": "connection_init", "payload": self.payload})
        )
        message = await self.receive()
        assert message["type"] == "connection_ack", message
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def subscribe(self, id: str, query: str, **variables: Any) -> None:
        assert self._connection is not None
        message = {
            "id": id,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }
        await self._connection.send(json.dumps(message))

    async def receive(self, timeout: float = 30) -> dict[str, Any]:
        """The next message other than a ping (answered); fails the test after ``timeout``."""
        assert self._connection is not None
        while True:
            try:
                raw = await asyncio.wait_for(self._connection.recv(), timeout)
            except TimeoutError:
                pytest.fail(f"no message from mlgraph within {timeout} s")
            message: dict[str, Any] = json.loads(raw)
            if message["type"] == "ping":
                await self._connection.send(json.dumps({"type": "pong"}))
                continue
            return message
