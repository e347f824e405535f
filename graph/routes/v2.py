"""The Open Inference Protocol (V2), so a client that calls a V2 server (MLServer, Triton,
KServe, Seldon Core v2) switches to mlgraph by changing only the host of its URL:

- ``POST /v2/models/{name}[/versions/{version}]/infer``: through the classify pipeline
  (graph/pipeline.py) like ``classify``, answered with the model's own answer after the commit;
  the request's ``id`` is the request id (a replay when seen before), one is made when absent;
- ``GET /v2/models/{name}[/versions/{version}]``: the model server's metadata, as it answers;
- ``GET /v2/models/{name}[/versions/{version}]/ready``: 200 when the model answers, else 400;
- ``GET /v2/health/live`` (the process), ``GET /v2/health/ready`` (the database and every V2
  model), ``GET /v2`` (server metadata): no key needed, like ``/healthz``.

``{name}`` is a configured V2 model's name in mlgraph or on its server (``v2_name``). A version
in the path must be the model's configured ``version``: mlgraph calls one version per model.
Inputs are read as mlclient/v2_messages.py says: one tensor ``[rows, features]``, or one input
per column named by feature (matched to the model's feature names). Failures answer
``{"error": message, "code": CODE, ...}`` with the code's HTTP status.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import mlclient
from graph import pipeline
from graph.auth import Scope, authorize
from graph.errors import AppError, BadUserInput, NotFound
from graph.features import check_batch
from graph.models import ModelEntry, ModelRegistry
from graph.routes._body import read_json
from graph.routes._errors import RouteCall, protocol_route, v2_error
from graph.routes._metadata import metadata_response
from graph.routes.health import database_status
from graph.routes.seldon import REPLAYED_HEADER
from mlclient import RowPrediction, v2_messages

__all__ = ["health_live", "health_ready", "infer", "model_metadata", "model_ready", "server"]

_EXAMPLE = '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [...]}]}'


class _NotReady(AppError):
    # The protocol says a 4xx means "not ready"; the code says why.
    code = "MODEL_UNAVAILABLE"
    http_status = 400


@protocol_route("v2.infer", v2_error)
async def infer(request: Request, call: RouteCall) -> Response:
    await authorize(request, Scope.PREDICT)
    model = v2_model(request)
    call.model = model.name
    if v2_messages.BINARY_HEADER in request.headers:
        raise BadUserInput(v2_messages.BINARY_ADVICE, argument="inputs")
    message = v2_messages.parse_infer_request(await read_json(request, example=_EXAMPLE))
    settings = request.state.settings
    batch = check_batch(
        "inputs",
        rows=message.rows,
        names=message.names,
        names_argument="inputs",
        max_rows=settings.max_batch_rows,
        max_features=settings.max_features,
    )
    request_id = message.id or pipeline.new_request_id()
    outputs = v2_messages.outputs_to_ask(message.outputs, probabilities=model.config.probabilities)
    result = await pipeline.classify(
        batch,
        model=model,
        request_id=request_id,
        settings=settings,
        sessions=request.state.sessions,
        writer=request.state.writer,
        request_id_argument="id",
        outputs=outputs,
    )
    content = v2_messages.reply(
        result.output.answer if result.output is not None else None,
        [RowPrediction(row.label, row.probabilities) for row in result.predictions],
        request_id=request_id,
        requested=message.outputs,
        model_name=model.config.v2_name or model.name,
        model_version=result.predictions[0].model_version,
    )
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return Response(content, media_type="application/json", headers=headers)


@protocol_route("v2.metadata", v2_error)
async def model_metadata(request: Request, call: RouteCall) -> Response:
    await authorize(request, Scope.READ, Scope.PREDICT)
    model = v2_model(request)
    call.model = model.name
    assert isinstance(model.protocol_client, mlclient.V2Client)
    return await metadata_response(model.protocol_client)


@protocol_route("v2.ready", v2_error)
async def model_ready(request: Request, call: RouteCall) -> Response:
    await authorize(request, Scope.READ, Scope.PREDICT)
    model = v2_model(request)
    call.model = model.name
    if not await model.client.ready():
        raise _NotReady(f"model {model.name!r} is not ready: its server does not answer")
    return Response(status_code=200)


async def health_live(request: Request) -> Response:
    return Response(status_code=200)


async def health_ready(request: Request) -> Response:
    """200 when the database (migrated) and every V2 model answer; 400 names what does not."""
    models = [e for e in request.state.models.entries if e.config.protocol == "v2"]
    (database, _), *ready = await asyncio.gather(
        database_status(request.state.schema), *(model.client.ready() for model in models)
    )
    down = [model.name for model, ok in zip(models, ready, strict=True) if not ok]
    if database == "ok" and not down:
        return Response(status_code=200)
    problems = ([f"database {database}"] if database != "ok" else []) + [
        f"model {name!r} unavailable" for name in down
    ]
    return v2_error(_NotReady("not ready: " + ", ".join(problems)))


async def server(request: Request) -> Response:
    """The server metadata: who answers, and no protocol extensions."""
    return JSONResponse({"name": "mlgraph", "version": _version(), "extensions": []})


def v2_model(request: Request) -> ModelEntry:
    """The V2 model a path names (see the module), ``NOT_FOUND`` otherwise."""
    registry: ModelRegistry = request.state.models
    name, version = request.path_params["name"], request.path_params.get("version")
    entry = registry.find_v2(name)
    if entry is None:
        others = [e.config.v2_name or e.name for e in registry.entries if e.config.protocol == "v2"]
        raise NotFound(
            f"no V2 model {name!r} here; V2 models: {', '.join(others) or 'none'}",
            argument="name",
        )
    if version is not None and version != entry.config.version:
        served = repr(entry.config.version) if entry.config.version else "its server's default"
        raise NotFound(
            f"model {name!r} has no version {version!r} here: mlgraph calls version {served} "
            "(its version setting in MLGRAPH_MODELS)",
            argument="version",
        )
    return entry


def _version() -> str:
    try:
        return version("mlgraph")
    except PackageNotFoundError:
        return "unknown"
