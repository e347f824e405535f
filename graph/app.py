"""The ASGI application: GraphQL at ``/graphql``, the routes beside it, and the per-process
resources (engine, model clients, writer, live broadcaster) made in the lifespan.

Where the parts live: the GraphQL core in graph/ (schema, resolvers/, types/), the other HTTP
routes in graph/routes/, what wraps every request in graph/middleware/, the dashboard's files in
graph/static/.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from httpx_aiohttp import AiohttpTransport
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

import db
import mlclient
from graph.auth import Authenticator
from graph.context import Context, State
from graph.databases import open_engine
from graph.errors import with_code
from graph.features import json_object
from graph.graphiql import ASSETS_PATH, assets, graphiql_page
from graph.live import Broadcaster
from graph.metrics import CLASSIFY_CALLS_PER_COMMIT, outcome, record_operation, watch_pool
from graph.middleware.limits import BodySizeLimit
from graph.middleware.request_log import RequestLog, lean_log_records
from graph.middleware.tracing import configure_tracing
from graph.migrations import DATABASE_ERRORS, SchemaGuard
from graph.models import build_registry
from graph.operation import execute_plain, needs_operation_name
from graph.request_body import RequestError, error_response, read_request
from graph.routes import seldon, v2
from graph.routes._errors import protocol_error_body
from graph.routes.export_csv import export_csv
from graph.routes.feedback import feedback
from graph.routes.health import healthz, readyz
from graph.routes.home import docs, home
from graph.routes.metrics import metrics_endpoint
from graph.schema import Schema, build_schema
from graph.settings import InvalidSettings, Settings, load_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["create_app", "serve_app"]

STATIC_DIR = Path(__file__).parent / "static"

logger = logging.getLogger("mlgraph.app")


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view, handing each request a typed ``Context``."""

    # orjson encodes answers several times faster than the json module. Requests are still
    # read by the json module: it accepts the NaN and Infinity that clients' JSON libraries
    # write, which then get a coded GraphQL error instead of orjson's bare 400.
    def encode_json(self, data: object) -> str:
        # Text, not orjson's bytes: Strawberry sends bytes over a WebSocket as binary frames,
        # which graphql-ws clients in browsers do not read.
        return orjson.dumps(data).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._answer_plain(request) or await self.run(request)
        except HTTPException as error:
            # Strawberry answers these in plain text; every refusal here is a coded GraphQL
            # error (graph/request_body.py), counted and logged like any other outcome.
            response, code = error_response(error)
            record_operation(request, "anonymous", code)
        await response(scope, receive, send)

    async def _answer_plain(self, request: Request) -> Response | None:
        """A query or mutation POSTed as JSON, the every-call case, answered as Strawberry's
        view would but without its dispatch, or ``None`` for ``run`` to answer.

        The view's ``run`` weighs every kind of request (GET, the IDE, multipart, streams,
        batches) through protocol checks and a MIME parser before it reaches the operation:
        about 35 µs of the 105 µs a trivial mutation took through the whole app (bench/
        RESULTS.md). The same hooks answer here (context, body, process_result, response);
        graph/operation.py runs the operation itself.
        """
        if request.method != "POST" or _media_type(request) != "application/json":
            return None
        if self._get_stream_transport_from_headers(request.headers) is not None:
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        data = read_request(await request.body(), "http", self.decode_json)
        assert isinstance(self.schema, Schema)
        result = await execute_plain(self.schema, self.schema.limits, data, context)
        if result is None:
            # Not a plain operation (see execute_plain): run reads the body Starlette keeps.
            return None
        return self.create_response(await self.process_result(request, result), sub_response)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            transport = self._get_stream_transport_from_headers(request.headers)
            return read_request(
                await request.get_body(),
                transport.protocol if transport else "http",
                self.decode_json,
            )
        if request.method == "POST":
            raise RequestError(
                f"the body must be application/json, not {content_type or 'untyped'}",
                status=415,
                code="UNSUPPORTED_MEDIA_TYPE",
            )
        try:
            return await super().parse_http_body(request)  # GET: the query string
        except HTTPException as error:
            if error.reason.startswith("Unable to parse"):  # variables or extensions
                raise RequestError("variables and extensions in the URL must be JSON") from error
            raise

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        assert isinstance(self.schema, Schema)
        if needs_operation_name(self.schema, self.schema.limits, request_data):
            raise RequestError(
                "the document holds several operations: name the one to run in operationName",
                code="OPERATION_RESOLUTION_FAILURE",
            )
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            if isinstance(error.__cause__, CannotGetOperationTypeError):  # e.g. no such name
                raise RequestError(error.reason, code="OPERATION_RESOLUTION_FAILURE") from error
            if isinstance(error.__cause__, InvalidOperationTypeError):  # a mutation over GET
                raise RequestError(
                    f"{error.reason}; send it as a POST", status=405, code="METHOD_NOT_ALLOWED"
                ) from error
            raise

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads its scripts from a CDN; ours from mlgraph (graph/graphiql.py).
        return graphiql_page()

    def decode_json(self, data: str | bytes) -> object:
        return json.loads(data, object_pairs_hook=json_object)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        state = request.state
        return Context(
            request=request,
            response=response,
            # None unless the schema is behind (then re-read at most once a second).
            schema_problem=await state.schema.problem(),
            settings=state.settings,
            sessions=state.sessions,
            read_sessions=state.read_sessions,
            models=state.models,
            authenticator=state.authenticator,
            live=state.live,
            writer=state.writer,
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # graph/operation.py codes and counts every operation's errors; anything that reached
        # the result another way without a code is coded and counted here.
        errors = result.errors or []
        if any("code" not in (error.extensions or {}) for error in errors):
            result.errors = [with_code(error) for error in errors]
            record_operation(request, "anonymous", outcome(result.errors))
        return await super().process_result(request, result)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def create_app(
    settings: Settings | None = None,
    *,
    model_transport: httpx.AsyncBaseTransport | None = None,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """Build mlgraph's ASGI app.

    Parameters:
        settings: defaults to ``load_settings()``, read from ``MLGRAPH_*`` environment variables
            (``InvalidSettings`` names each bad one).
        model_transport: an httpx transport for the model client; tests inject faults with it.
        span_exporter: replaces the trace exporters the ``OTEL_*`` variables name (tests).
    """
    settings = settings or load_settings()
    tracing = configure_tracing(settings, exporter=span_exporter)  # None unless OTEL_* ask

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        engine = open_engine(settings)
        # Monitoring reads on a replica of their own pool never queue behind classify's writes.
        read_engine = open_engine(settings, read=True) if settings.database_read_url else None
        watch_pool(engine, replica=read_engine)
        schema = SchemaGuard(engine)
        await _check_database(schema, settings.database_url)
        if tracing is not None:
            for each in (engine, read_engine):
                if each is not None:
                    tracing.instrument_engine(each)
        if (
            settings.database_url.startswith("postgresql")
            and not settings.database_statement_cache
            and settings.listen_database_url is None
        ):
            logger.warning(
                "MLGRAPH_DATABASE_STATEMENT_CACHE=false (a pooler in transaction mode?) but no "
                "MLGRAPH_LISTEN_DATABASE_URL: LISTEN through such a pooler misses notifications, "
                "so live subscribers would hear only this process; set it to a direct URL"
            )
        live = Broadcaster(settings.listen_url, queue_size=settings.live_queue_size)
        timeout = httpx.Timeout(settings.model_timeout, connect=settings.model_connect_timeout)
        try:
            # httpx's own transport spent about a third of classify's CPU in httpcore's pool
            # and anyio (bench/RESULTS.md, encode/httpx#3215): the same httpx client sends
            # through aiohttp's connection pool instead, by httpx's transport interface. The
            # pool's size is the transport's (a client given a transport ignores its limits);
            # aiohttp keeps every idle connection up to that size.
            transport = model_transport or AiohttpTransport(
                limits=httpx.Limits(max_connections=settings.model_max_connections)
            )
            if tracing is not None:
                transport = tracing.traced_transport(transport)
            async with httpx.AsyncClient(
                timeout=timeout, transport=transport, cookies=mlclient.NoCookies()
            ) as http:
                sessions = db.make_sessionmaker(engine)
                read_sessions = db.make_sessionmaker(read_engine) if read_engine else sessions
                writer = db.PredictionWriter(
                    sessions,
                    # PostgreSQL: LISTEN/NOTIFY reaches every process; SQLite: in-process.
                    announce=None if live.postgres else live.announce,
                    notify=live.postgres,
                    # Traced, the writer's statements go through SQLAlchemy: a span each.
                    through_sqlalchemy=tracing is not None,
                    on_commit=CLASSIFY_CALLS_PER_COMMIT.observe,
                )
                yield {
                    "settings": settings,
                    "engine": engine,
                    "schema": schema,
                    "sessions": sessions,
                    "read_engine": read_engine,
                    "read_sessions": read_sessions,
                    "models": build_registry(
                        settings,
                        http,
                        transport=transport,
                        model_call_span=tracing.model_call if tracing is not None else None,
                    ),
                    "authenticator": Authenticator(
                        sessions,
                        production=settings.environment == "production",
                        cache_seconds=settings.api_key_cache_seconds,
                    ),
                    "live": live,
                    "writer": writer,
                }
                await writer.aclose()  # what was queued before shutdown is still stored
        finally:
            await live.aclose()
            await engine.dispose()
            if read_engine is not None:
                await read_engine.dispose()
            if tracing is not None:
                tracing.shutdown()

    graphql = GraphQLApp(
        build_schema(settings), graphql_ide="graphiql" if settings.graphiql else None
    )
    routes = [
        Route("/", home, name="home"),
        Route("/docs", docs),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        # The GraphiQL page's scripts and styles (graph/graphiql.py), only when it is served.
        *([Mount(ASSETS_PATH, assets())] if settings.graphiql else []),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *_protocol_routes(),
        Route("/export.csv", export_csv),
        Route("/metrics", metrics_endpoint),
        # Static files that use only the public GraphQL API (graph/static/dashboard/).
        Mount("/dashboard", StaticFiles(directory=STATIC_DIR / "dashboard", html=True)),
    ]
    middleware = [
        *([tracing.middleware()] if tracing is not None else []),
        Middleware(RequestLog),
        Middleware(
            BodySizeLimit, max_bytes=settings.max_body_bytes, error_body=protocol_error_body
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _protocol_routes() -> list[Route]:
    """The model protocols' own routes, so their clients need only mlgraph's host
    (graph/routes/seldon.py, feedback.py, v2.py)."""
    # Seldon v1: the microservice's own paths, and the ingress's with and without a namespace.
    seldon_bases = ("", "/seldon/{namespace}/{deployment}", "/seldon/{deployment}")
    v2_model = "/v2/models/{name}"
    v2_bases = (v2_model, v2_model + "/versions/{version}")
    return [
        *(
            Route(base + "/api/v1.0/predictions", seldon.predictions, methods=["POST"])
            for base in seldon_bases
        ),
        *(Route(base + "/api/v1.0/feedback", feedback, methods=["POST"]) for base in seldon_bases),
        *(Route(base + "/api/v1.0/metadata", seldon.metadata) for base in seldon_bases),
        *(Route(base + "/infer", v2.infer, methods=["POST"]) for base in v2_bases),
        *(Route(base + "/ready", v2.model_ready) for base in v2_bases),
        *(Route(base, v2.model_metadata) for base in v2_bases),
        Route("/v2/health/live", v2.health_live),
        Route("/v2/health/ready", v2.health_ready),
        Route("/v2", v2.server),
    ]


async def _check_database(schema: SchemaGuard, url: str) -> None:
    """Log which database this process uses and whether its schema is at head.

    Only logged: a pod that starts before the release's migration Job has finished must come
    up and turn ready once it has (``/readyz`` reads the revision again on every probe).
    """
    where = db.urls.describe_url(url)
    fields = {"database": where}
    try:
        state = await schema.check()
    except DATABASE_ERRORS as exc:
        logger.warning(
            "database %s does not answer yet (%s); /readyz says when it does",
            where,
            type(exc).__name__,
            extra={"fields": fields},
        )
        return
    fields["revision"] = state.current or "none"
    problem = state.problem()
    if problem is not None:
        logger.error(problem, extra={"fields": fields})
    elif state.newer:
        logger.warning(
            "database %s is at revision %s, newer than this mlgraph's %s: upgrade mlgraph",
            where,
            state.current,
            state.head,
            extra={"fields": fields},
        )
    else:
        logger.info(
            "database %s, schema at revision %s", where, state.current, extra={"fields": fields}
        )


def serve_app() -> Starlette:
    """The app ``mlgraph serve`` runs in each uvicorn worker: ``create_app()`` from the
    environment, then ``gc.freeze()``; log records lean (``lean_log_records``) before.

    Everything imported and built by then (modules, the schema, SQLAlchemy's mappers) lives as
    long as the process. Left to the cyclic garbage collector, every full collection walks all
    of it: pauses of ~100 ms that made classify's p95 three times its p50 under load
    (bench/RESULTS.md). Frozen, those objects are never scanned again.
    """
    lean_log_records()
    try:
        app = create_app()
    except InvalidSettings as exc:
        # Run by uvicorn itself (`uvicorn graph.app:serve_app --factory`), a bad setting would
        # otherwise end in a traceback; `mlgraph serve` has already checked them.
        for problem in exc.problems:
            logger.error(problem)
        raise SystemExit(1) from None
    gc.freeze()
    return app
