"""A failed classify gives a coded error and stores nothing; bad input never reaches the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from scripts.modelserver import free_port
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, error_codes, graphql

Handler = Callable[[httpx.Request], httpx.Response]


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _answer(status: int, content: bytes) -> Handler:
    return lambda request: httpx.Response(status, content=content)


def _ok(labels: list[str]) -> Handler:
    return lambda request: httpx.Response(200, json={"data": {"ndarray": labels}})


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        pytest.param(_raise(httpx.ConnectError("refused")), "MODEL_UNAVAILABLE", id="refused"),
        pytest.param(_raise(httpx.ReadTimeout("slow")), "MODEL_UNAVAILABLE", id="timeout"),
        pytest.param(_answer(500, b"boom"), "MODEL_UNAVAILABLE", id="500"),
        pytest.param(_answer(200, b"{not json"), "BAD_MODEL_RESPONSE", id="malformed-json"),
        pytest.param(_answer(200, b'{"data": {}}'), "BAD_MODEL_RESPONSE", id="no-ndarray"),
        pytest.param(_ok(["a"]), "BAD_MODEL_RESPONSE", id="wrong-row-count"),
        pytest.param(_answer(422, b"no"), "BAD_USER_INPUT", id="model-refused-input"),
    ],
)
async def test_model_faults_give_their_code_and_store_nothing(
    app_client: AppClient, session: AsyncSession, handler: Handler, code: str
) -> None:
    transport = httpx.MockTransport(handler)
    async with app_client(transport=transport, model_version="v1") as client:
        body = await graphql(client, CLASSIFY, rows=IRIS_ROWS, requestId="r-fault")
    assert body["data"] is None
    assert error_codes(body) == [code]
    assert await _count(session) == 0


async def test_unexpected_error_is_masked_as_internal(
    app_client: AppClient, session: AsyncSession
) -> None:
    transport = httpx.MockTransport(_raise(RuntimeError("secret detail")))
    async with app_client(transport=transport, model_version="v1") as client:
        body = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
    assert error_codes(body) == ["INTERNAL"]
    assert "secret" not in json.dumps(body)
    assert await _count(session) == 0


@pytest.mark.parametrize(
    ("rows", "settings", "fragment"),
    [
        pytest.param([], {}, "rows is empty", id="empty"),
        pytest.param([[1.0, 2.0], [1.0]], {}, "ragged rows", id="ragged"),
        pytest.param([[]], {}, "no features", id="no-features"),
        pytest.param([[1.0]] * 3, {"max_batch_rows": 2}, "too many rows", id="too-many-rows"),
        pytest.param([[1.0] * 5], {"max_features": 4}, "too many features", id="too-wide"),
    ],
)
async def test_bad_batches_are_rejected_before_the_model_is_called(
    app_client: AppClient,
    session: AsyncSession,
    rows: list[list[float]],
    settings: dict[str, object],
    fragment: str,
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"data": {"ndarray": ["a"] * len(rows)}})

    async with app_client(transport=httpx.MockTransport(handler), **settings) as client:
        body = await graphql(client, CLASSIFY, rows=rows)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert fragment in body["errors"][0]["message"]
    assert calls == []
    assert await _count(session) == 0


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_non_finite_numbers_are_rejected(
    app_client: AppClient, session: AsyncSession, literal: bytes
) -> None:
    # Python's JSON decoder accepts these tokens, so they do reach GraphQL's Float coercion.
    query = b"mutation($r: [[Float!]!]!) { classify(input: {rows: $r}) { replayed } }"
    payload = b'{"query": "' + query + b'", "variables": {"r": [[1.0, ' + literal + b"]]}}"
    async with app_client(transport=httpx.MockTransport(_ok(["a"]))) as client:
        response = await client.post(
            "/graphql", content=payload, headers={"content-type": "application/json"}
        )
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert await _count(session) == 0


async def test_database_failure_after_model_answered_is_storage_unavailable(
    app_client: AppClient, tmp_path: Path
) -> None:
    # Nothing listens on that port: every connection is refused. (A broken SQLite path
    # would do too, but aiosqlite's failed-connect thread can outlive the test's event loop.)
    broken = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/missing"
    async with app_client(transport=httpx.MockTransport(_ok(["a"])), database_url=broken) as client:
        body = await graphql(client, CLASSIFY, rows=[[1.0]], requestId="r-1")
    assert error_codes(body) == ["STORAGE_UNAVAILABLE"]


async def test_open_circuit_is_model_unavailable_with_retry_after(
    app_client: AppClient, session: AsyncSession
) -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused")

    settings: dict[str, object] = {
        "breaker_failures": 2,
        "breaker_reset_seconds": 30,
        "model_retries": 0,
    }
    async with app_client(transport=httpx.MockTransport(refuse), **settings) as client:
        bodies = [await graphql(client, CLASSIFY, rows=IRIS_ROWS) for _ in range(3)]
    assert [error_codes(b) for b in bodies] == [["MODEL_UNAVAILABLE"]] * 3
    # Predictions only: the metadata read (for the model's features) does not open the circuit.
    assert len([c for c in calls if c.method == "POST"]) == 2
    assert 0 < bodies[2]["errors"][0]["extensions"]["retryAfter"] <= 30
    assert await _count(session) == 0
