"""OpenTelemetry: one trace per classify (request, model call, database) when the OTEL_*
variables ask for it; nothing at all, not even an import, when they don't."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from graph.app import create_app
from graph.middleware.tracing import configure_tracing, tracing_requested
from graph.settings import Settings
from scripts.modelserver import ModelServer
from tests.utils.api import CLASSIFY, IRIS_ROWS, graphql
from tests.utils.serve import stub_model

OTEL_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
)


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


async def _classify(database_url: str, exporter: InMemorySpanExporter) -> list[str | None]:
    """One classify through mlgraph's own model client (aiohttp under httpx) to a model server
    on a real socket; returns the traceparent header of each model call."""
    headers: list[dict[str, str]] = []
    with stub_model(headers) as model_url:
        settings = Settings(database_url=database_url, model_url=model_url, model_version="v1")
        app = create_app(settings, span_exporter=exporter)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mlgraph") as client:
                response = await client.post(
                    "/graphql", json={"query": CLASSIFY, "variables": {"rows": IRIS_ROWS}}
                )
                assert "errors" not in response.json()
                assert (await client.get("/healthz")).status_code == 200
    return [h.get("traceparent") for h in headers]


def _scope(span: ReadableSpan) -> str:
    assert span.instrumentation_scope is not None
    return span.instrumentation_scope.name


async def test_classify_is_one_trace_across_request_model_and_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a deployment sets; the test hook then swaps the OTLP exporter for one in memory.
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    exporter = InMemorySpanExporter()
    headers = await _classify(database_url, exporter)
    spans = exporter.get_finished_spans()

    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "POST /graphql"  # /healthz is not traced
    # The prediction's call; the model's metadata (read once, for its features) is a GET.
    (model,) = [
        s
        for s in spans
        if _scope(s) == "opentelemetry.instrumentation.httpx"
        and s.attributes is not None
        and s.attributes.get("http.request.method", s.attributes.get("http.method")) == "POST"
    ]
    assert model.kind is SpanKind.CLIENT
    database = [s for s in spans if _scope(s) == "opentelemetry.instrumentation.sqlalchemy"]
    assert any(s.name.startswith("INSERT") for s in database), [s.name for s in database]

    by_id = {s.context.span_id: s for s in spans}

    def root(span: ReadableSpan) -> ReadableSpan:
        while span.parent is not None:
            span = by_id[span.parent.span_id]
        return span

    trace_id = server.context.trace_id
    for span in [model, *database]:
        assert span.context.trace_id == trace_id
        assert root(span) is server
    # The model server got the trace: W3C traceparent naming the client span as its parent.
    (header,) = headers
    assert header is not None
    version, header_trace, parent, flags = header.split("-")
    assert (version, header_trace, parent) == (
        "00",
        f"{trace_id:032x}",
        f"{model.context.span_id:016x}",
    )
    assert int(flags, 16) & 1, "sampled"
    assert server.resource.attributes["service.name"] == "mlgraph"


async def test_a_seldon_route_is_one_trace_across_request_model_and_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    exporter = InMemorySpanExporter()
    headers: list[dict[str, str]] = []
    with stub_model(headers) as model_url:
        settings = Settings(database_url=database_url, model_url=model_url, model_version="v1")
        app = create_app(settings, span_exporter=exporter)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mlgraph") as client:
                response = await client.post(
                    "/api/v1.0/predictions", json={"data": {"ndarray": IRIS_ROWS}}
                )
                assert response.status_code == 200, response.text
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name.startswith("POST /api/v1.0/predictions")
    trace_id = server.context.trace_id
    clients = [s for s in spans if _scope(s) == "opentelemetry.instrumentation.httpx"]
    database = [s for s in spans if _scope(s) == "opentelemetry.instrumentation.sqlalchemy"]
    assert clients
    assert any(s.name.startswith("INSERT") for s in database)
    assert all(s.context.trace_id == trace_id for s in [*clients, *database])
    # The model server got the trace too.
    (header,) = [h["traceparent"] for h in headers if "traceparent" in h]
    assert header.split("-")[1] == f"{trace_id:032x}"


async def test_a_batched_model_call_links_every_caller_s_trace(
    database_url: str, model_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    exporter = InMemorySpanExporter()
    settings = Settings(database_url=database_url, model_url=model_server.url, model_max_wait=60)
    app = create_app(settings, span_exporter=exporter)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlgraph") as client:
            # A first call caches what the others would each look up (keys on?, the version).
            assert "errors" not in await graphql(client, CLASSIFY, rows=IRIS_ROWS)
            exporter.clear()
            bodies = await asyncio.gather(
                *(graphql(client, CLASSIFY, rows=[row]) for row in IRIS_ROWS * 4)
            )
    assert all("errors" not in body for body in bodies)
    spans = exporter.get_finished_spans()

    callers = {s.context.trace_id for s in spans if s.kind is SpanKind.SERVER}
    assert len(callers) == 12
    calls = [s for s in spans if s.name == "model call"]
    # Every caller's rows went in some model call; fewer calls than callers: some were shared.
    shared = [int(str((s.attributes or {})["mlgraph.batch.calls"])) for s in calls]
    assert sum(shared) == 12
    assert len(calls) < 12
    linked = set()
    for call in calls:
        traces = [link.context.trace_id for link in call.links]
        assert len(traces) == (call.attributes or {})["mlgraph.batch.calls"]
        assert call.context.trace_id == traces[0]  # a child of its first caller's request
        linked.update(traces)
    assert linked == callers
    by_id = {s.context.span_id: s for s in spans}
    for http in (s for s in spans if _scope(s) == "opentelemetry.instrumentation.httpx"):
        assert http.parent is not None
        assert by_id[http.parent.span_id].name == "model call"


async def test_without_the_variables_nothing_is_traced(database_url: str) -> None:
    assert configure_tracing(Settings()) is None
    exporter = InMemorySpanExporter()  # the test hook alone does not turn tracing on
    headers = await _classify(database_url, exporter)
    assert headers == [None]
    assert exporter.get_finished_spans() == ()


def test_without_the_variables_opentelemetry_is_not_even_imported(tmp_path: object) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        import httpx
        from asgi_lifespan import LifespanManager
        from graph.app import create_app
        from graph.settings import Settings

        async def main():
            app = create_app(Settings(database_url="sqlite+aiosqlite:///{tmp_path}/x.db"))
            async with LifespanManager(app) as manager:
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    assert (await c.get("/healthz")).status_code == 200

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    environment = {k: v for k, v in os.environ.items() if k not in OTEL_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("variables", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_which_variables_turn_tracing_on(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], on: bool
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert tracing_requested(Settings()) is on


def test_an_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ValueError, match="jaeger"):
        configure_tracing(Settings())
