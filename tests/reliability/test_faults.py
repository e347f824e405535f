"""classify while the model server and PostgreSQL restart under load: real processes only.

The test owns everything it breaks: a throwaway PostgreSQL cluster (``initdb`` into a temporary
folder, its own port, never the shared server), a seldon-core model server and mlgraph itself
as a uvicorn subprocess. Eight clients send classify calls with unique request ids and retry a
failed call with the same id, as the error codes promise is safe; meanwhile the model server is
killed and restarted on the same port, then PostgreSQL is restarted. Afterwards the database
must hold exactly the acknowledged predictions, once each, and nothing for calls that failed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from scripts.modelserver import free_port
from tests.utils.api import CLASSIFY
from tests.utils.migrations import migrate
from tests.utils.postgres import Cluster, throwaway_cluster
from tests.utils.processes import RestartableSeldon
from tests.utils.serve import run_mlgraph

pytestmark = pytest.mark.model_server

CLIENTS = 8
MAX_CALLS_PER_CLIENT = 400
MAX_ATTEMPTS = 6
# What a healthy system may answer while its dependencies restart: both say "retry, same id".
RETRYABLE = frozenset({"MODEL_UNAVAILABLE", "STORAGE_UNAVAILABLE"})
IRIS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [4.9, 3.1, 1.5, 0.1]]


# --- a throwaway PostgreSQL cluster ------------------------------------------------------------


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A cluster of this test's own (tests/utils/postgres.py), migrated to head."""
    with throwaway_cluster("mlgraph-faults-pg-") as cluster:
        migrate(cluster.url, "head")
        yield cluster


# --- the model server, killed and restarted on one port ----------------------------------------


@pytest.fixture
def model(tmp_path: Path) -> Iterator[RestartableSeldon]:
    model = RestartableSeldon(tmp_path, free_port())
    try:
        model.start()
        yield model
    finally:
        model.kill()


# --- mlgraph as a real uvicorn process ---------------------------------------------------------


@pytest.fixture
def mlgraph(cluster: Cluster, model: RestartableSeldon, tmp_path: Path) -> Iterator[str]:
    """``mlgraph serve`` on a free port against the cluster and the model; yields its URL."""
    log = tmp_path / "mlgraph.log"
    try:
        with run_mlgraph(
            cluster.url,
            log,
            MLGRAPH_MODEL_URL=f"http://127.0.0.1:{model.port}",
            MLGRAPH_MODEL_DEADLINE="5",
            # Short, so the circuit probes the restarted model soon enough for a bounded test.
            MLGRAPH_BREAKER_RESET_SECONDS="0.5",
        ) as server:
            yield server.url
    finally:
        print(f"\nmlgraph log (tail):\n{log.read_text(errors='replace')[-1500:]}")


# --- the clients -------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One HTTP call: the ids it was given, or the codes (or uncoded failure) it got."""

    ids: list[str] | None = None
    replayed: bool = False
    codes: list[str] = field(default_factory=list)
    uncoded: str | None = None


@dataclass
class Request:
    request_id: str
    rows: list[list[float]]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> Attempt | None:
        return next((a for a in self.attempts if a.ids is not None), None)


@dataclass
class Ledger:
    requests: list[Request] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0


async def _attempt(http: httpx.AsyncClient, request: Request) -> Attempt:
    variables = {"rows": request.rows, "requestId": request.request_id}
    try:
        response = await http.post("/graphql", json={"query": CLASSIFY, "variables": variables})
    except httpx.HTTPError as exc:
        return Attempt(uncoded=f"transport error {exc!r}")
    if response.status_code != 200:
        return Attempt(uncoded=f"HTTP {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    errors = body.get("errors") or []
    if errors:
        codes = [(e.get("extensions") or {}).get("code") for e in errors]
        if not all(isinstance(c, str) for c in codes):
            return Attempt(uncoded=f"error without a code: {errors}")
        return Attempt(codes=[str(c) for c in codes])
    result = body["data"]["classify"]
    return Attempt(ids=[p["id"] for p in result["predictions"]], replayed=result["replayed"])


async def _client(number: int, url: str, ledger: Ledger, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for call in range(MAX_CALLS_PER_CLIENT):
            if stop.is_set():
                return
            rows = [list(random.choice(IRIS)) for _ in range(random.randint(1, 3))]
            request = Request(f"faults-{number}-{call}-{uuid.uuid4().hex[:8]}", rows)
            ledger.requests.append(request)
            for _ in range(MAX_ATTEMPTS):
                attempt = await _attempt(http, request)
                request.attempts.append(attempt)
                ledger.codes.update(attempt.codes)
                if attempt.ids is not None:
                    ledger.acknowledged += 1
                    break
                if attempt.uncoded or not RETRYABLE.issuperset(attempt.codes):
                    break
                # A real client backs off with jitter before retrying with the same id.
                await asyncio.sleep(random.uniform(0.1, 0.4))
            await asyncio.sleep(random.uniform(0.01, 0.04))


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(600):  # at most ~30 s
        if condition():
            print(f"  ... {what}")
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting: {what}")


async def _chaos(model: RestartableSeldon, cluster: Cluster, ledger: Ledger) -> None:
    def acknowledged_after(count: int) -> Callable[[], bool]:
        return lambda: ledger.acknowledged >= count + CLIENTS

    await _until(acknowledged_after(0), "steady traffic")
    await asyncio.to_thread(model.kill)
    # Down until the clients have noticed: the outage must be part of what they saw.
    await _until(lambda: ledger.codes["MODEL_UNAVAILABLE"] > 0, "model server killed")
    await asyncio.to_thread(model.start)
    await _until(acknowledged_after(ledger.acknowledged), "model server restarted, same port")
    await asyncio.to_thread(cluster.ctl, "restart", "-m", "fast")
    await _until(acknowledged_after(ledger.acknowledged), "PostgreSQL restarted")


async def _stored(url: str) -> list[tuple[str | None, int, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text("SELECT request_id, row_index, id FROM predictions")
            )
            return [(r[0], r[1], str(r[2])) for r in result.all()]
    finally:
        await engine.dispose()


async def test_acknowledged_predictions_survive_model_and_database_restarts(
    cluster: Cluster, model: RestartableSeldon, mlgraph: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = Ledger()
    stop = asyncio.Event()
    with capsys.disabled():
        print(f"\nfault run: {CLIENTS} clients against {mlgraph}")
        async with asyncio.timeout(100):
            clients = [
                asyncio.create_task(_client(n, mlgraph, ledger, stop)) for n in range(CLIENTS)
            ]
            try:
                await _chaos(model, cluster, ledger)
            finally:
                stop.set()
                await asyncio.gather(*clients)
    stored = await _stored(cluster.url)

    by_id: dict[str, list[tuple[int, str]]] = {}
    for request_id, row_index, prediction_id in stored:
        assert request_id is not None, "a prediction without its request id"
        by_id.setdefault(request_id, []).append((row_index, prediction_id))
    sent = {r.request_id: r for r in ledger.requests}
    acknowledged = [r for r in ledger.requests if r.acknowledged is not None]
    failed = [r for r in ledger.requests if r.acknowledged is None]
    attempts = [a for r in ledger.requests for a in r.attempts]
    uncoded = [a.uncoded for a in attempts if a.uncoded]
    unexpected = Counter(c for a in attempts for c in a.codes if c not in RETRYABLE)
    duplicates = len(stored) - len({(r, i) for r, i, _ in stored})
    retried_then_ok = sum(len(r.attempts) > 1 for r in acknowledged)
    replayed = sum(r.acknowledged.replayed for r in acknowledged if r.acknowledged is not None)

    with capsys.disabled():
        print(
            f"calls (HTTP attempts) {len(attempts)}, requests {len(ledger.requests)}\n"
            f"acknowledged {len(acknowledged)} ({replayed} as replays), "
            f"retried then succeeded {retried_then_ok}, gave up {len(failed)}\n"
            f"failed attempts by code {dict(ledger.codes)}, uncoded {len(uncoded)}\n"
            f"stored rows {len(stored)} for {len(by_id)} request ids, duplicates {duplicates}"
        )

    assert not uncoded, f"failures without a code or with a 5xx: {uncoded[:5]}"
    assert not unexpected, f"codes a restart should not cause: {unexpected}"
    assert ledger.codes["MODEL_UNAVAILABLE"] > 0, "the model outage was never observed"
    assert duplicates == 0
    assert set(by_id) <= set(sent), "rows for request ids nobody sent"
    for request in acknowledged:
        rows = sorted(by_id.get(request.request_id, []))
        assert request.acknowledged is not None
        # Exactly the acknowledged ids, once each, one per input row in order: one set only.
        assert [i for _, i in rows] == request.acknowledged.ids, request.request_id
        assert [i for i, _ in rows] == list(range(len(request.rows))), request.request_id
    for request in failed:
        codes = [a.codes or a.uncoded for a in request.attempts]
        assert request.request_id not in by_id, f"rows stored for a failed call: {codes}"
