"""Seldon's feedback endpoint, ``POST /api/v1.0/feedback``, so Seldon clients need no change.

The body is a Seldon ``Feedback`` message::

    {"response": {"meta": {"puid": "<request id>"}}, "truth": {"data": {"ndarray": [...]}}}

``puid`` is matched to the request id of a classify call and ``truth`` gives one actual per row
of that call, in order: a label (``"setosa"``, ``2``, ``[2]``) or a one-hot/probability row,
read as the class at its largest value, in the class order of the stored probabilities (or the
model's configured ``class_names`` when it returned plain labels).
Answers are JSON in Seldon's style; errors carry ``status.status == "FAILURE"``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

import db
from db import predictions as queries
from graph import actuals
from graph.auth import Scope, authorize
from graph.errors import BadUserInput, NotFound
from graph.models import ModelRegistry
from graph.routes._errors import as_app_error

__all__ = ["feedback"]


async def feedback(request: Request) -> JSONResponse:
    try:
        await authorize(request, Scope.PREDICT)
        try:
            body = await request.json()
        except ValueError as exc:
            raise BadUserInput("the body is not JSON") from exc
        puid, truth = _parse(body)
        sessions: db.Sessions = request.state.sessions
        async with sessions() as session:
            rows = await queries.get_predictions_by_request_id(session, request_id=puid)
        if not rows:
            raise NotFound(f"no predictions with puid {puid!r}")
        if len(truth) != len(rows):
            raise BadUserInput(f"{len(truth)} truth row(s) for {len(rows)} prediction(s)")
        classes = _classes(rows[0], request.state.models)
        labels = [_label(value, classes) for value in truth]
        stored = await actuals.record_actuals(sessions, labels=labels, request_id=puid)
    except Exception as exc:
        error = await as_app_error(request, exc)
        return JSONResponse(
            {
                "status": {
                    "code": error.http_status,
                    "info": str(error),
                    "reason": error.code,
                    "status": "FAILURE",
                },
                "message": str(error),
            },
            status_code=error.http_status,
        )
    return JSONResponse(
        {
            "data": {"names": [], "ndarray": []},
            "meta": {"puid": puid, "tags": {"actuals": len(stored)}},
        }
    )


def _classes(row: db.Prediction, models: ModelRegistry) -> list[str] | None:
    """The model's class order: as its stored probabilities list them, else as configured."""
    if row.probabilities:
        return list(row.probabilities)
    try:
        return models.get(row.model_name).config.class_names
    except BadUserInput:
        return None  # a model no longer configured


def _parse(body: Any) -> tuple[str, list[Any]]:
    try:
        puid = body["response"]["meta"]["puid"]
        truth = body["truth"]["data"]["ndarray"]
    except (KeyError, TypeError) as exc:
        raise BadUserInput(
            "expected {'response': {'meta': {'puid': ...}}, 'truth': {'data': {'ndarray': ...}}}"
        ) from exc
    if not isinstance(puid, str) or not puid:
        raise BadUserInput("response.meta.puid must be a non-empty string")
    if not isinstance(truth, list) or not truth:
        raise BadUserInput("truth.data.ndarray must be a non-empty list, one entry per row")
    return puid, truth


def _label(value: Any, classes: list[str] | None) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, list):
        if classes is None or len(classes) != len(value):
            raise BadUserInput(
                f"a truth row of {len(value)} numbers needs as many known classes (the "
                "model's probabilities or its configured class_names); or send labels"
            )
        if not all(isinstance(v, int | float) for v in value):
            raise BadUserInput("a truth row of several values must hold numbers")
        return classes[max(range(len(value)), key=lambda i: value[i])]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadUserInput("a truth row must be a label, a number or a row of numbers")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
