"""The classify mutation: call the model, store what it said, return it (graph/pipeline.py)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graph import pipeline
from graph.auth import CanPredict
from graph.context import Context
from graph.features import read_batch
from graph.inputs import plain_input
from graph.types.features import FeatureRecord, FeatureValue
from graph.types.prediction import Prediction

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
        result = await pipeline.classify(
            batch,
            model=context.models.get(input.model_name),
            request_id=input.request_id,
            settings=settings,
            sessions=context.sessions,
            writer=context.writer,
        )
        return ClassifyResult(
            predictions=[Prediction.from_row(row) for row in result.predictions],
            replayed=result.replayed,
        )
