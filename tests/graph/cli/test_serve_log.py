"""What ``mlgraph serve`` writes at the default level, info: one JSON line per request.

Runs the real ``mlgraph serve`` against the real seldon microservice; a classify call makes a
model call, and only mlgraph's own line about the request may come of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from scripts.modelserver import ModelServer
from tests.utils.api import CLASSIFY
from tests.utils.migrations import migrate
from tests.utils.serve import run_mlgraph


def test_one_line_per_classify_and_none_per_model_call(
    model_server: ModelServer, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    log = tmp_path / "serve.log"
    payload = {"query": CLASSIFY, "variables": {"rows": [[5.1, 3.5, 1.4, 0.2]]}}
    with run_mlgraph(
        database_url, log, MLGRAPH_MODEL_URL=model_server.url, MLGRAPH_LOG_LEVEL="info"
    ) as mlgraph:
        for _ in range(3):
            response = httpx.post(mlgraph.url + "/graphql", json=payload, timeout=30)
            assert response.status_code == 200
            assert "errors" not in response.json()

    lines = log.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(entries) == len(lines), "every line is JSON"
    # Log records are made lean in the workers (no caller, thread or process name), but the
    # process id stays: with several workers it tells their lines apart.
    assert all(isinstance(e["pid"], int) and e["pid"] > 0 for e in entries), entries
    classify = [e for e in entries if e.get("path") == "/graphql"]
    assert [(e["operation"], e["status"]) for e in classify] == [("Classify", 200)] * 3
    # uvicorn's access log would say each request again, in a line of its own.
    assert [e for e in entries if e["logger"].startswith("uvicorn.access")] == []
    # The three model calls wrote nothing of their own (httpx logs each request at info).
    assert [e for e in entries if e["logger"].startswith(("httpx", "httpcore"))] == []
    assert all("HTTP Request" not in e["message"] for e in entries)
