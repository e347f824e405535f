"""Seldon v1's prediction endpoint, so a client that calls a Seldon model switches to mlgraph by
changing only the host of its URL:

- ``POST /api/v1.0/predictions`` (the microservice's own path; SeldonClient ``gateway="seldon"``)
- ``POST /seldon/<namespace>/<deployment>/api/v1.0/predictions`` (the ingress's path)
- ``POST /seldon/<deployment>/api/v1.0/predictions`` (SeldonClient ``gateway="istio"`` or
  ``"ambassador"`` without a namespace)

and ``GET .../api/v1.0/metadata`` under the same three, answered with the model's own metadata.

The model is the deployment named in the path, else the one a ``Seldon-Model`` header names,
else the default model; it must be a Seldon v1 model. The request is read as the Python wrapper
reads tabular data (mlclient/seldon_messages.py) and runs through the classify pipeline
(graph/pipeline.py): checked against the model's features, replayed when its ``meta.puid`` was
seen, sent to the model, stored, and only then answered. The answer is the model's own, with
``meta.puid`` set to the stored request id (the puid ``POST /api/v1.0/feedback`` takes); a
replay is rebuilt from what was stored and says so in ``Mlgraph-Replayed: true``. Failures
answer in Seldon's shape: ``{"status": {"code", "info", "reason": <code>, "status": "FAILURE"}}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

import mlclient
from graph import pipeline
from graph.auth import Scope, authorize
from graph.errors import NotFound
from graph.features import check_batch
from graph.models import ModelEntry, ModelRegistry
from graph.routes._body import read_json
from graph.routes._errors import RouteCall, protocol_route, seldon_error
from graph.routes._metadata import metadata_response
from mlclient import RowPrediction, seldon_messages

__all__ = ["MODEL_HEADER", "REPLAYED_HEADER", "metadata", "predictions", "seldon_model"]

MODEL_HEADER = "seldon-model"
REPLAYED_HEADER = "mlgraph-replayed"
_EXAMPLE = '{"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'


@protocol_route("seldon.predictions", seldon_error)
async def predictions(request: Request, call: RouteCall) -> Response:
    await authorize(request, Scope.PREDICT)
    message = seldon_messages.parse_request(await read_json(request, example=_EXAMPLE))
    model = seldon_model(request)
    call.model = model.name
    settings = request.state.settings
    batch = check_batch(
        message.field,
        rows=message.rows,
        records=message.records,
        names=message.names,
        names_argument="data.names",
        max_rows=settings.max_batch_rows,
        max_features=settings.max_features,
    )
    puid = message.puid or pipeline.new_request_id()
    result = await pipeline.classify(
        batch,
        model=model,
        request_id=puid,
        settings=settings,
        sessions=request.state.sessions,
        writer=request.state.writer,
        request_id_argument="meta.puid",
    )
    content = seldon_messages.reply(
        result.output.answer if result.output is not None else None,
        [RowPrediction(row.label, row.probabilities) for row in result.predictions],
        puid=puid,
        form=message.form,
    )
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return Response(content, media_type="application/json", headers=headers)


@protocol_route("seldon.metadata", seldon_error)
async def metadata(request: Request, call: RouteCall) -> Response:
    """``GET /api/v1.0/metadata``: the model's own metadata, as the microservice answers it."""
    await authorize(request, Scope.READ, Scope.PREDICT)
    model = seldon_model(request)
    call.model = model.name
    assert isinstance(model.protocol_client, mlclient.SeldonClient)
    return await metadata_response(model.protocol_client)


def seldon_model(request: Request) -> ModelEntry:
    """The Seldon v1 model a request is for: the path's deployment, a ``Seldon-Model`` header,
    or the default model; ``NOT_FOUND`` for a name not configured or a model of another
    protocol."""
    registry: ModelRegistry = request.state.models
    name = request.path_params.get("deployment") or request.headers.get(MODEL_HEADER)
    entry = registry.get(None) if name is None else registry.find(name)
    if entry is None:
        raise NotFound(
            f"no model {name!r} here; configured: {', '.join(registry.names)}",
            argument="deployment",
        )
    if entry.config.protocol != "seldon":
        v2_name = entry.config.v2_name or entry.name
        raise NotFound(
            f"model {entry.name!r} speaks the Open Inference Protocol (V2), not Seldon v1: "
            f"POST /v2/models/{v2_name}/infer, or name a Seldon model",
            argument="deployment",
        )
    return entry
