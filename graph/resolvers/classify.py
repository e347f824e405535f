"""The classify mutation: call the model, store what it said, return it."""

from __future__ import annotations

import time
from collections.abc import Sequence

import strawberry
from strawberry.types import Info

import db
import mlclient
from db import predictions as queries
from graph import metrics
from graph.auth import CanPredict
from graph.context import Context
from graph.errors import Conflict, StorageUnavailable, from_model_error
from graph.features import fit_batch, read_batch, to_columns
from graph.inputs import plain_input
from graph.types.features import FeatureRecord, FeatureValue
from graph.types.prediction import Prediction
from graph.validation import check_labels, check_text
from mlclient import FeatureValue as Value

__all__ = ["ClassifyInput", "ClassifyMutations", "ClassifyResult"]


# Built without Strawberry's per-element conversion of rows (graph/inputs.py).
@plain_input
@strawberry.input(
    description="Rows to classify in one call: exactly one of rows, mixedRows or records."
)
class ClassifyInput:
    rows: list[list[float]] | None = strawberry.field(
        default=None,
        description="Rows of numbers, in the order of the model's features, all of one width.",
    )
    mixed_rows: list[list[FeatureValue]] | None = strawberry.field(
        default=None,
        description="Rows of numbers and strings (categorical features), in the order of the "
        'model\'s features: [[52000, "north"]].',
    )
    records: list[FeatureRecord] | None = strawberry.field(
        default=None,
        description='Rows keyed by feature name: [{income: 52000, region: "north"}]. Needs the '
        "model's feature names (see models { features }).",
    )
    model_name: str | None = strawberry.field(
        default=None, description="Which configured model to call; default: the default model."
    )
    request_id: str | None = strawberry.field(
        default=None,
        description=(
            "Your id for this call (up to 200 characters). Sending it again returns the stored "
            "predictions instead of calling the model twice, so a retry is always safe."
        ),
    )


@strawberry.type
class ClassifyResult:
    predictions: list[Prediction] = strawberry.field(description="One per input row, in order.")
    replayed: bool = strawberry.field(
        description="True when requestId had been seen: these were stored by the earlier call."
    )


@strawberry.type
class ClassifyMutations:
    @strawberry.mutation(
        permission_classes=[CanPredict],
        description=(
            "Send feature rows to the model and store one prediction per row. The answer is "
            "sent only after the predictions are committed; when the call fails nothing is stored."
        ),
    )
    async def classify(self, info: Info[Context, None], input: ClassifyInput) -> ClassifyResult:
        context, settings = info.context, info.context.settings
        batch = read_batch(
            rows=input.rows,
            mixed_rows=input.mixed_rows,
            records=input.records,
            max_rows=settings.max_batch_rows,
            max_features=settings.max_features,
        )
        request_id = check_text(input.request_id, argument="requestId")
        model = context.models.get(input.model_name)
        known = await model.schema()
        checked = fit_batch(
            batch,
            known[0] if known else None,
            model_name=model.name,
            max_length=settings.max_category_length,
        )
        rows, schema = checked.rows, checked.schema

        if request_id is not None:
            stored = await _stored(context, request_id)
            if stored:
                return _replay(stored, rows)

        model_name = model.name
        try:
            output = await model.client.predict(rows, features=schema)
        except mlclient.ModelError as exc:
            error = from_model_error(exc)
            metrics.MODEL_ERRORS.labels(model_name, error.code).inc()
            raise error from exc
        if known is None:
            model.learn(schema)
        metrics.observe_model_call(model_name, output.latency_ms / 1000)
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
            written = await context.writer.write(call)
        except db.DuplicateRequestId:
            # A concurrent call with the same request id committed first: answer with its rows.
            assert request_id is not None
            return _replay(await _stored(context, request_id), rows)
        except db.STORAGE_ERRORS as exc:
            raise StorageUnavailable(
                "the model answered but the predictions could not be stored; "
                "retry with the same requestId",
            ) from exc
        metrics.observe_write(model_name, time.perf_counter() - started)
        metrics.count_predictions(output.model_name, (row.label for row in written))
        return ClassifyResult(predictions=[Prediction.from_row(r) for r in written], replayed=False)


async def _stored(context: Context, request_id: str) -> list[db.Prediction]:
    # The primary: a retry must find what an earlier call committed, however recently.
    async with context.sessions() as session:
        return await queries.get_predictions_by_request_id(session, request_id=request_id)


def _replay(stored: list[db.Prediction], rows: Sequence[Sequence[Value]]) -> ClassifyResult:
    # Both sides hold numbers as floats and categories as strings (db.types.FeatureValues,
    # graph.features): 1 and 1.0 are one number, the string "1" is not the number 1.
    if [r.features for r in stored] != [list(row) for row in rows]:
        raise Conflict(
            "requestId was already used for different rows; use a new requestId",
            argument="requestId",
        )
    return ClassifyResult(predictions=[Prediction.from_row(r) for r in stored], replayed=True)
