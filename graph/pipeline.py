"""The classify pipeline, one for every way in: GraphQL's ``classify`` and the protocol routes.

``classify`` takes a batch whose shape is checked (``graph.features.read_batch`` or
``check_batch``) and does the rest, in this order, whoever called:

1. fit every row to the model's feature schema (``BAD_USER_INPUT`` naming the row and feature);
2. a request id seen before answers with its stored predictions, without calling the model
   (``CONFLICT`` when the rows differ);
3. call the model (its failures become coded errors, counted by model and code);
4. store the rows with group commit and answer only after the commit (``STORAGE_UNAVAILABLE``
   when the database fails; a concurrent call with the same request id that committed first
   is replayed);
5. count the model time, the write time and the predictions by label.

Nothing is stored when any step fails. The result keeps the model's own answer for callers
that speak its protocol (graph/routes/seldon.py, graph/routes/v2.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import db
import mlclient
from db import predictions as queries
from graph import metrics
from graph.errors import Conflict, StorageUnavailable, from_model_error
from graph.features import Batch, fit_batch, to_columns
from graph.models import ModelEntry
from graph.settings import Settings
from graph.validation import check_labels, check_text
from mlclient import FeatureValue

__all__ = ["Classified", "classify", "new_request_id"]


@dataclass(frozen=True, slots=True)
class Classified:
    """What a classify call stored (or had stored before: ``replayed``), in row order.

    ``output`` is the model's answer; ``None`` for a replay, which does not call the model.
    """

    predictions: Sequence[db.PredictionRow]
    replayed: bool
    output: mlclient.ModelOutput | None = None


async def classify(
    batch: Batch,
    *,
    model: ModelEntry,
    request_id: str | None,
    settings: Settings,
    sessions: db.Sessions,
    writer: db.PredictionWriter,
    request_id_argument: str = "requestId",
    outputs: Sequence[str] = (),
) -> Classified:
    """Run ``batch`` through ``model`` and store one prediction per row (see the module).

    ``request_id_argument`` names the request id in errors as the caller sent it (``requestId``,
    Seldon's ``meta.puid``, V2's ``id``); ``outputs`` are V2 outputs to ask the model for.
    """
    check_text(request_id, argument=request_id_argument)
    known = await model.schema()
    checked = fit_batch(
        batch,
        known[0] if known else None,
        model_name=model.name,
        max_length=settings.max_category_length,
    )
    rows, schema = checked.rows, checked.schema

    if request_id is not None:
        stored = await _stored(sessions, request_id)
        if stored:
            return _replay(stored, rows, request_id_argument)

    try:
        output = await model.client.predict(
            rows, features=schema, request_id=request_id, outputs=outputs
        )
    except mlclient.ModelError as exc:
        error = from_model_error(exc)
        metrics.MODEL_ERRORS.labels(model.name, error.code).inc()
        raise error from exc
    if known is None:
        model.learn(schema)
    metrics.observe_model_call(model.name, output.latency_ms / 1000)
    check_labels(row.label for row in output.rows)

    call = queries.NewCall(
        rows=[
            queries.NewPrediction(features=row, label=p.label, probabilities=p.probabilities)
            for row, p in zip(rows, output.rows, strict=True)
        ],
        model_name=output.model_name,
        model_version=output.model_version,
        latency_ms=output.latency_ms,
        request_id=request_id,
        schema=to_columns(schema),
    )
    started = time.perf_counter()
    try:
        # Committed with whatever other calls are being stored now (group commit), and
        # announced to live subscribers in that transaction (graph/live.py).
        written = await writer.write(call)
    except db.DuplicateRequestId:
        # A concurrent call with the same request id committed first: answer with its rows.
        assert request_id is not None
        return _replay(await _stored(sessions, request_id), rows, request_id_argument)
    except db.STORAGE_ERRORS as exc:
        raise StorageUnavailable(
            "the model answered but the predictions could not be stored; "
            f"retry with the same {request_id_argument}",
        ) from exc
    metrics.observe_write(model.name, time.perf_counter() - started)
    metrics.count_predictions(output.model_name, (row.label for row in written))
    return Classified(written, replayed=False, output=output)


def new_request_id() -> str:
    """A request id for a call whose caller sent none but must be able to name it later:
    Seldon's ``meta.puid`` (feedback finds the call by it), V2's ``id``."""
    return uuid.uuid4().hex


async def _stored(sessions: db.Sessions, request_id: str) -> list[db.Prediction]:
    # The primary: a retry must find what an earlier call committed, however recently.
    async with sessions() as session:
        return await queries.get_predictions_by_request_id(session, request_id=request_id)


def _replay(
    stored: Sequence[db.PredictionRow], rows: Sequence[Sequence[FeatureValue]], argument: str
) -> Classified:
    # Both sides hold numbers as floats and categories as strings (db.types.FeatureValues,
    # graph.features): 1 and 1.0 are one number, the string "1" is not the number 1.
    if [r.features for r in stored] != [list(row) for row in rows]:
        raise Conflict(
            f"{argument} was already used for different rows; use a new {argument}",
            argument=argument,
        )
    return Classified(stored, replayed=True)
