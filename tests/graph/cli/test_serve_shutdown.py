"""SIGTERM during a classify: the call finishes, its rows commit, the process exits cleanly.

Runs the real ``mlgraph serve`` (uvicorn) in a subprocess. The model is a slow stand-in, so
that the call is surely in flight when the signal arrives.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.utils.api import CLASSIFY
from tests.utils.migrations import migrate
from tests.utils.serve import run_mlgraph

MODEL_DELAY = 1.5


class _SlowModel(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        rows = json.loads(self.rfile.read(int(self.headers["content-length"])))["data"]["ndarray"]
        time.sleep(MODEL_DELAY)
        body = json.dumps({"data": {"ndarray": ["slow"] * len(rows)}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def slow_model() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sigterm_finishes_in_flight_classify(slow_model: str, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    log = tmp_path / "serve.log"
    result: dict[str, httpx.Response] = {}
    payload = {"query": CLASSIFY, "variables": {"rows": [[1.0, 2.0]], "requestId": "inflight"}}

    with run_mlgraph(
        database_url, log, MLGRAPH_MODEL_URL=slow_model, MLGRAPH_LOG_LEVEL="info"
    ) as mlgraph:
        call = threading.Thread(
            target=lambda: result.update(
                response=httpx.post(mlgraph.url + "/graphql", json=payload, timeout=30)
            )
        )
        call.start()
        time.sleep(MODEL_DELAY / 3)
        mlgraph.process.send_signal(signal.SIGTERM)
        call.join(timeout=30)
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit status is
        # "killed by SIGTERM" rather than 0; a hung or crashed server fails here.
        assert mlgraph.process.wait(timeout=30) in (0, -signal.SIGTERM)

    body = result["response"].json()
    assert result["response"].status_code == 200, body
    predictions = body["data"]["classify"]["predictions"]
    assert [p["label"] for p in predictions] == ["slow"]

    # The acknowledged row is committed: another connection finds it after the exit.
    with sqlite3.connect(tmp_path / "mlgraph.db") as connection:
        rows = connection.execute(
            "SELECT id, label FROM predictions WHERE request_id = 'inflight'"
        ).fetchall()
    assert [(row[0], row[1]) for row in rows] == [(predictions[0]["id"].replace("-", ""), "slow")]
    # The JSON request log saw it too.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(
        entry.get("operation") == "Classify" and entry.get("status") == 200 for entry in lines
    )
