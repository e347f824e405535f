"""Through GraphQL: one client's bad rows never take the real model away from the others, and
a model that is down is reported with its real cause and logged with its name and URL."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from scripts.modelserver import ModelServer, free_port
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, error_codes, graphql

pytestmark = pytest.mark.model_server


async def test_one_bad_client_among_good_ones_against_the_real_seldon_model(
    app_client: AppClient, model_server: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlclient")
    # A low threshold: before, two refusals in a row opened the circuit for every caller.
    settings: dict[str, object] = {"breaker_failures": 2, "breaker_reset_seconds": 60}
    async with app_client(model_url=model_server.url, **settings) as client:

        async def calls(rows: list[list[float]], count: int) -> list[dict[str, Any]]:
            return [await graphql(client, CLASSIFY, rows=rows) for _ in range(count)]

        bad, *good = await asyncio.gather(
            calls([[5.1, 3.5, 1.4]], 10), *(calls(IRIS_ROWS, 5) for _ in range(3))
        )
    for body in bad:
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "modelStatus": 500}
        assert error["message"] == (
            "the model refused this input (HTTP 500): X has 3 features, but LogisticRegression "
            "is expecting 4 features as input."
        )
    assert [error_codes(body) for caller in good for body in caller] == [[]] * 15
    assert [r for r in caplog.records if r.name == "mlclient"] == []  # a refusal is no outage


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
