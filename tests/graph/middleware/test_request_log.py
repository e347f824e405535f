"""/metrics moves with traffic; each request logs one JSON line with its request id."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graph.middleware.request_log import JsonFormatter
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, graphql

OK_MODEL = httpx.MockTransport(
    lambda request: httpx.Response(200, json={"data": {"ndarray": ["setosa"] * 3}})
)


async def _samples(
    client: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _delta(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    name: str,
    **labels: str,
) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_move_after_classify(app_client: AppClient) -> None:
    async with app_client(transport=OK_MODEL, model_version="v1") as client:
        before = await _samples(client)
        body = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
        assert "errors" not in body
        after = await _samples(client)
    assert _delta(before, after, "mlgraph_predictions_total", model="iris", label="setosa") == 3
    assert (
        _delta(
            before, after, "mlgraph_graphql_operations_total", operation="Classify", outcome="ok"
        )
        == 1
    )
    assert _delta(before, after, "mlgraph_classify_model_seconds_count", model="iris") == 1
    assert _delta(before, after, "mlgraph_classify_db_seconds_count", model="iris") == 1
    assert _delta(before, after, "mlgraph_classify_calls_per_commit_count") == 1
    assert _delta(before, after, "mlgraph_classify_calls_per_commit_sum") == 1
    # The primary's pool; a replica's appears beside it (tests/graph/test_read_replica.py).
    pool = ("mlgraph_db_pool_connections", (("database", "primary"), ("state", "checked_out")))
    assert pool in after
    assert not any(
        name == "mlgraph_db_pool_connections" and ("database", "replica") in labels
        for name, labels in after
    )
    # Without a replica there is no lag to report, not a lag of 0.
    assert not any(name == "mlgraph_db_replica_lag_seconds" for name, _ in after)


async def test_model_errors_are_counted_by_code(app_client: AppClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with app_client(transport=httpx.MockTransport(refuse), model_retries=0) as client:
        before = await _samples(client)
        await graphql(client, CLASSIFY, rows=IRIS_ROWS)
        after = await _samples(client)
    assert (
        _delta(before, after, "mlgraph_model_errors_total", model="iris", code="MODEL_UNAVAILABLE")
        == 1
    )
    assert (
        _delta(
            before,
            after,
            "mlgraph_graphql_operations_total",
            operation="Classify",
            outcome="MODEL_UNAVAILABLE",
        )
        == 1
    )


async def test_one_json_log_line_per_request_with_request_id(
    app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlgraph.request")
    async with app_client(transport=OK_MODEL, model_version="v1") as client:
        given = await client.post(
            "/graphql",
            json={"query": CLASSIFY, "variables": {"rows": IRIS_ROWS}},
            headers={"x-request-id": "abc-123"},
        )
        made = await client.get("/healthz")
        hostile = await client.get("/healthz", headers={"x-request-id": "bad id\n{}"})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "bad id\n{}"

    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "mlgraph.request"]
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    first = entries[0]
    assert first["request_id"] == "abc-123"
    assert first["operation"] == "Classify"
    assert first["outcome"] == "ok"
    assert first["status"] == 200
    assert first["duration_ms"] > 0
    assert entries[1]["request_id"] == made.headers["x-request-id"]
    # No feature values: none of the logged fields holds a number or text of the rows (a
    # plain substring test would also match a duration such as 175.137 ms).
    row_values = {str(value) for row in IRIS_ROWS for value in row}
    logged = {str(value) for value in first.values()}
    assert not row_values & logged
    assert not any("3.5" in value and "1.4" in value for value in logged)


async def test_parse_errors_are_coded_and_counted(app_client: AppClient) -> None:
    # Parse errors come from the parser cache, before any extension can code them.
    async with app_client() as client:
        before = await _samples(client)
        for _ in range(2):  # the second one is served from the cache
            body = await graphql(client, "{ predictions(first: 1 { edges }")
            assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_PARSE_FAILED"]
        after = await _samples(client)
    assert (
        _delta(
            before,
            after,
            "mlgraph_graphql_operations_total",
            operation="anonymous",
            outcome="GRAPHQL_PARSE_FAILED",
        )
        == 2
    )


async def test_protocol_routes_are_counted_and_logged_like_classify(
    app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlgraph.request")
    body = {"data": {"ndarray": IRIS_ROWS}}
    async with app_client(transport=OK_MODEL, model_version="v1") as client:
        before = await _samples(client)
        ok = await client.post("/seldon/models/iris/api/v1.0/predictions", json=body)
        missing = await client.post("/seldon/models/nope/api/v1.0/predictions", json=body)
        after = await _samples(client)
    assert (ok.status_code, missing.status_code) == (200, 404)
    route = "seldon.predictions"
    assert _delta(before, after, "mlgraph_protocol_requests_total", route=route, outcome="ok") == 1
    assert (
        _delta(before, after, "mlgraph_protocol_requests_total", route=route, outcome="NOT_FOUND")
        == 1
    )
    assert _delta(before, after, "mlgraph_predictions_total", model="iris", label="setosa") == 3
    assert _delta(before, after, "mlgraph_classify_model_seconds_count", model="iris") == 1
    entries = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "mlgraph.request"
    ]
    logged = [(e["path"], e.get("route"), e.get("model"), e.get("outcome")) for e in entries]
    assert ("/seldon/models/iris/api/v1.0/predictions", route, "iris", "ok") in logged
    assert ("/seldon/models/nope/api/v1.0/predictions", route, None, "NOT_FOUND") in logged


def _record(created: float, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("mlgraph.request", logging.INFO, __file__, 1, "request", (), None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    record.fields = fields
    return record


def test_the_formatter_stamps_each_line_with_its_own_utc_millisecond() -> None:
    formatter = JsonFormatter()
    # 2026-12-03 09:59:59.875 UTC, then two lines in the next second, then one a day later.
    stamps = [1796291999.875, 1796292000.0, 1796292000.5, 1796378400.25]
    times = [json.loads(formatter.format(_record(stamp)))["time"] for stamp in stamps]
    assert times == [
        "2026-12-03T09:59:59.875Z",
        "2026-12-03T10:00:00.000Z",
        "2026-12-03T10:00:00.500Z",
        "2026-12-04T10:00:00.250Z",
    ]


def test_the_formatter_writes_a_line_whatever_the_fields_hold() -> None:
    formatter = JsonFormatter()
    entry = json.loads(formatter.format(_record(1796292000.0, path="/graphql", where=Path("/x"))))
    assert (entry["path"], entry["where"], entry["message"]) == ("/graphql", "/x", "request")
    # Beyond orjson's 64-bit integers: the line is still written, by the json module.
    assert json.loads(formatter.format(_record(1796292000.0, rows=2**70)))["rows"] == 2**70
