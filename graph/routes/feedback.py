"""Seldon's feedback endpoint, so Seldon clients need no change: ``POST /api/v1.0/feedback``,
and the ingress's ``/seldon/<namespace>/<deployment>/api/v1.0/feedback`` and
``/seldon/<deployment>/api/v1.0/feedback`` (where SeldonClient sends it with ``gateway="istio"``
or ``"ambassador"``).

The body is a Seldon ``Feedback`` message, as ``SeldonClient.feedback`` sends it::

    {"request": {...}, "response": {"meta": {"puid": "<request id>"}, ...},
     "reward": 1.0, "truth": {"data": {"ndarray": [...]}}}

``response.meta.puid`` is matched to the request id of a classify call or a prediction through
``/api/v1.0/predictions`` (whose answer carries it). ``truth`` gives one actual per row of that
call, in order (``data.ndarray``, or ``data.tensor`` as SeldonClient sends by default): a label
(``"setosa"``, ``2``, ``[2]``) or a one-hot/probability row, read as the class at its largest
value, in the class order of the stored probabilities (or the model's configured
``class_names`` when it returned plain labels). ``reward`` is stored for the request, replacing
an earlier one; protobuf's JSON leaves a reward of 0 out, so a feedback with neither truth nor
reward is a reward of 0. A deployment in the path must be the model that made the predictions.

Answers are JSON in Seldon's style; errors carry ``status.status == "FAILURE"``. With API keys
on, feedback needs a ``predict`` key, unless ``MLGRAPH_ANONYMOUS_FEEDBACK`` lets callers without
one in: ``SeldonClient.feedback`` cannot send headers.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import db
from db import predictions as queries
from graph import actuals
from graph.auth import Scope, authorize
from graph.errors import BadUserInput, NotFound
from graph.models import ModelRegistry
from graph.routes._body import read_json
from graph.routes._errors import RouteCall, protocol_route, seldon_error
from graph.validation import check_text
from mlclient.seldon_messages import feedback_truth

__all__ = ["feedback"]

_EXAMPLE = '{"response": {"meta": {"puid": "..."}}, "truth": {"data": {"ndarray": [...]}}}'


@protocol_route("seldon.feedback", seldon_error)
async def feedback(request: Request, call: RouteCall) -> Response:
    settings = request.state.settings
    await authorize(request, Scope.PREDICT, anonymous=settings.anonymous_feedback)
    puid, truth, reward = _parse(await read_json(request, example=_EXAMPLE))
    sessions: db.Sessions = request.state.sessions
    async with sessions() as session:
        rows = await queries.get_predictions_by_request_id(session, request_id=puid)
    deployment = request.path_params.get("deployment")
    if not rows or (deployment is not None and rows[0].model_name != deployment):
        where = f" for deployment {deployment!r}" if deployment is not None else ""
        raise NotFound(f"no predictions with puid {puid!r}{where}")
    call.model = rows[0].model_name
    labels = None
    if truth is not None:
        if len(truth) != len(rows):
            raise BadUserInput(
                f"{len(truth)} truth row(s) for {len(rows)} prediction(s)", argument="truth"
            )
        classes = _classes(rows[0], request.state.models)
        labels = [_label(value, classes) for value in truth]
    stored = await actuals.record_feedback(sessions, request_id=puid, labels=labels, reward=reward)
    tags: dict[str, Any] = {"actuals": len(stored.actuals)}
    if stored.reward is not None:
        tags["reward"] = stored.reward
    body = {"data": {"names": [], "ndarray": []}, "meta": {"puid": puid, "tags": tags}}
    return JSONResponse(body)


def _classes(row: db.Prediction, models: ModelRegistry) -> list[str] | None:
    """The model's class order: as its stored probabilities list them, else as configured."""
    if row.probabilities:
        return list(row.probabilities)
    entry = models.find(row.model_name)
    return entry.config.class_names if entry is not None else None  # None: no longer configured


def _parse(body: Any) -> tuple[str, list[Any] | None, float | None]:
    """The puid, the truth's rows (``None`` without truth) and the reward (``None`` when the
    truth came without one)."""
    response = body.get("response") if isinstance(body, dict) else None
    meta = response.get("meta") if isinstance(response, dict) else None
    puid = meta.get("puid") if isinstance(meta, dict) else None
    if not isinstance(puid, str) or not puid:
        raise BadUserInput(
            "response.meta.puid must be a non-empty string (the prediction's puid); "
            f"send {_EXAMPLE}",
            argument="response.meta.puid",
        )
    check_text(puid, argument="response.meta.puid")
    truth = feedback_truth(body["truth"]) if "truth" in body else None
    reward = body.get("reward")
    if reward is None and truth is None:
        reward = 0.0  # what protobuf's JSON leaves out is its default
    if reward is not None and (isinstance(reward, bool) or not isinstance(reward, int | float)):
        raise BadUserInput("reward must be a number", argument="reward")
    return puid, truth, None if reward is None else float(reward)


def _label(value: Any, classes: list[str] | None) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, list):
        if classes is None or len(classes) != len(value):
            raise BadUserInput(
                f"a truth row of {len(value)} numbers needs as many known classes (the "
                "model's probabilities or its configured class_names); or send labels",
                argument="truth",
            )
        if not all(isinstance(v, int | float) for v in value):
            raise BadUserInput("a truth row of several values must hold numbers", argument="truth")
        return classes[max(range(len(value)), key=lambda i: value[i])]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadUserInput(
            "a truth row must be a label, a number or a row of numbers", argument="truth"
        )
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
