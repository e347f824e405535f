"""Through GraphQL: one client's bad rows never take the real model away from the others, and
a model that is down is reported with its real cause and logged with its name and URL."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from scripts.modelserver import ModelServer, free_port
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, error_codes, graphql

pytestmark = pytest.mark.model_server


async def test_one_bad_client_among_good_ones_against_the_real_seldon_model(
    app_client: AppClient, model_server: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The real model declares its four features, so mlgraph refuses the bad rows itself; the
    model's own refusals are the next test's (and tests/mlclient/test_refusals.py's)."""
    caplog.set_level(logging.INFO, logger="mlclient")
    settings: dict[str, object] = {"breaker_failures": 2, "breaker_reset_seconds": 60}
    async with app_client(model_url=model_server.url, **settings) as client:

        async def calls(rows: list[list[float]], count: int) -> list[dict[str, Any]]:
            return [await graphql(client, CLASSIFY, rows=rows) for _ in range(count)]

        bad, *good = await asyncio.gather(
            calls([[5.1, 3.5, 1.4]], 10), *(calls(IRIS_ROWS, 5) for _ in range(3))
        )
    assert [error_codes(body) for body in bad] == [["BAD_USER_INPUT"]] * 10
    assert [error_codes(body) for caller in good for body in caller] == [[]] * 15
    assert [r for r in caplog.records if r.name == "mlclient"] == []  # a refusal is no outage


class _Microservice:
    """What the seldon-core microservice answers, as the real one does (its bodies recorded by
    tests/mlclient/test_refusals.py), for a model whose features mlgraph cannot know first: a
    metadata endpoint that fails, four features per row, a 500 for any other width."""

    def __init__(self) -> None:
        self.predictions = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata"):
            return httpx.Response(500, text="Internal Server Error")
        self.predictions += 1
        rows = json.loads(request.content)["data"]["ndarray"]
        if any(len(row) != 4 for row in rows):
            info = f"X has {len(rows[0])} features, but LogisticRegression is expecting 4 features"
            status = {
                "code": -1,
                "info": info,
                "reason": "MICROSERVICE_INTERNAL_ERROR",
                "status": 1,
            }
            return httpx.Response(500, json={"status": status})
        return httpx.Response(200, json={"data": {"ndarray": ["setosa"] * len(rows)}})


async def test_the_model_s_own_refusals_never_open_the_circuit(app_client: AppClient) -> None:
    model = _Microservice()
    settings: dict[str, object] = {"breaker_failures": 2, "model_version": "v1"}
    async with app_client(transport=httpx.MockTransport(model), **settings) as client:
        bad = [await graphql(client, CLASSIFY, rows=[[5.1, 3.5, 1.4]]) for _ in range(5)]
        good = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
    for body in bad:
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "modelStatus": 500}
        assert error["message"] == (
            "the model refused this input (HTTP 500): X has 3 features, but LogisticRegression "
            "is expecting 4 features"
        )
    assert error_codes(good) == []  # before: MODEL_UNAVAILABLE, the circuit open after two
    assert model.predictions == 6


async def test_a_model_that_is_down_says_why_and_the_log_names_it(
    app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlclient")
    url = f"http://127.0.0.1:{free_port()}"
    async with app_client(model_url=url, breaker_failures=2, model_retries=0) as client:
        bodies = [await graphql(client, CLASSIFY, rows=IRIS_ROWS) for _ in range(3)]
    messages = [body["errors"][0]["message"] for body in bodies]
    assert messages[:2] == ["cannot connect to the model server: connection refused"] * 2
    assert messages[2].startswith("model server is failing; not calling it for")
    assert [error_codes(body) for body in bodies] == [["MODEL_UNAVAILABLE"]] * 3
    logged = [r.getMessage() for r in caplog.records if r.name == "mlclient"]
    assert logged == [
        f"model iris at {url} failed: cannot connect to the model server: connection refused",
        f"circuit breaker opened for model iris at {url} after 2 failed call(s) (last: cannot "
        "connect to the model server: connection refused): failing fast for 1.0 s, then one "
        "probe",
    ]
