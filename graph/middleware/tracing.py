"""OpenTelemetry traces, on only when the standard ``OTEL_*`` variables ask for them.

Tracing is on when ``OTEL_TRACES_EXPORTER`` (other than ``none``),
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set and
``OTEL_SDK_DISABLED`` is not ``true``. Off, nothing from OpenTelemetry is even imported (it is
the optional extra ``mlgraph[tracing]``), so the hot path pays nothing.

On, each request gets a server span (ASGI; probes and ``/metrics`` excluded), each model request
a ``model call`` span linking every classify call whose rows it carries (adaptive batching) with
an httpx client span whose ``traceparent`` header carries the trace to the model server, and each
database statement a span (SQLAlchemy), all in the request's trace (a batch's: the first
caller's). Exporters:
``OTEL_TRACES_EXPORTER=otlp`` (the default; OTLP over HTTP/protobuf, configured by the SDK's own
``OTEL_EXPORTER_OTLP_*`` variables, e.g. ``OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318``)
and ``console``. ``OTEL_SERVICE_NAME`` defaults to ``mlgraph``.

Each app gets its own ``TracerProvider`` handed to each instrumentation, not the global one:
a process (the tests) may build several apps, and the global provider can be set only once.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware

from graph.settings import Settings

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Tracing", "configure_tracing", "tracing_requested"]

# Probes and scrapes would be most of the spans and say nothing (regexes, searched in the URL).
EXCLUDED_URLS = "/healthz,/readyz,/metrics,/v2/health"


def tracing_requested(settings: Settings) -> bool:
    """True when the ``OTEL_*`` variables (read into ``settings``) ask for traces."""
    if settings.otel_sdk_disabled:
        return False
    exporter = (settings.otel_traces_exporter or "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        exporter
        or settings.otel_exporter_otlp_endpoint
        or settings.otel_exporter_otlp_traces_endpoint
    )


@dataclass(frozen=True, slots=True)
class Tracing:
    """One app's tracer provider, and the hooks that instrument the app's resources with it."""

    provider: TracerProvider

    def middleware(self) -> Middleware:
        """The outermost middleware: one server span per request."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            excluded_urls=EXCLUDED_URLS,
            exclude_spans=["receive", "send"],
        )

    def traced_transport(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """``transport`` with a client span per model request; the global propagator (W3C
        ``traceparent``) injects the context into each. The transport, not the client, is
        wrapped: the model clients send through it directly (mlclient._http.send_through)."""
        from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

        return AsyncOpenTelemetryTransport(transport, tracer_provider=self.provider)

    @contextmanager
    def model_call(
        self, model: str, callers: Sequence[contextvars.Context], rows: int
    ) -> Iterator[None]:
        """A span around one model request that may carry several classify calls' rows
        (adaptive batching, mlclient/batching.py): the child of the first caller's span, as
        a lone call's is, with a link to each caller's span, so every caller's trace leads to
        the request that answered it. The httpx client span is its child."""
        from opentelemetry import trace

        links = []
        for caller in callers:
            context = caller.run(trace.get_current_span).get_span_context()
            if context.is_valid:
                links.append(trace.Link(context))
        tracer = self.provider.get_tracer("mlgraph")
        with tracer.start_as_current_span(
            "model call",
            links=links,
            attributes={
                "mlgraph.model": model,
                "mlgraph.batch.calls": len(callers),
                "mlgraph.batch.rows": rows,
            },
        ):
            yield

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span per statement on this engine.

        ``SQLAlchemyInstrumentor().instrument(engine=...)`` would also patch ``create_engine``
        process-wide and works once per process; its ``EngineTracer`` alone just listens to
        this engine's events.
        """
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__
        from opentelemetry.metrics import NoOpMeter

        # The pool's connection counts are /metrics' job (mlgraph_db_pool_connections).
        usage = NoOpMeter("mlgraph").create_up_down_counter("db.client.connections.usage")
        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporters (at the end of the lifespan)."""
        self.provider.shutdown()


def configure_tracing(
    settings: Settings, *, exporter: SpanExporter | None = None
) -> Tracing | None:
    """A ``Tracing`` when the ``OTEL_*`` variables ask for it, else ``None``.

    ``exporter`` replaces the exporters the variables name, spans being exported as each ends
    (tests pass the SDK's ``InMemorySpanExporter``).
    """
    if not tracing_requested(settings):
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "mlgraph"}))
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for named in _exporters(settings.otel_traces_exporter or "otlp"):
            provider.add_span_processor(BatchSpanProcessor(named))
    return Tracing(provider)


def _exporters(names: str) -> list[Any]:
    exporters: list[Any] = []
    for name in (part.strip().lower() for part in names.split(",")):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(
                f"OTEL_TRACES_EXPORTER: mlgraph exports to otlp or console, not {name!r}"
            )
    return exporters
