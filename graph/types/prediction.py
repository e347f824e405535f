"""GraphQL types for stored predictions."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

import db
from graph.context import Context
from graph.types.features import FeatureInfo, FeatureRecord, FeatureValue
from mlclient import FeatureKind

__all__ = ["ClassProbability", "PageInfo", "Prediction", "PredictionConnection", "PredictionEdge"]


@strawberry.type(description="The probability the model gave one class.")
class ClassProbability:
    label: str
    probability: float


@strawberry.type(description="One input row sent to a model and what the model answered.")
class Prediction:
    id: strawberry.ID
    created_at: datetime = strawberry.field(description="When it was stored (database time, UTC).")
    model_name: str
    model_version: str
    features: list[FeatureValue] = strawberry.field(
        description="The input row's values in the order of its features: numbers for "
        "numerical features, strings for categorical ones."
    )
    label: str = strawberry.field(description="The predicted class.")
    probabilities: list[ClassProbability] | None = strawberry.field(
        description="Probability per class, in the model's class order; null for plain labels."
    )
    latency_ms: float = strawberry.field(description="Duration of the model call, milliseconds.")
    request_id: str | None = strawberry.field(description="The client's request id, if given.")
    row_index: int = strawberry.field(description="Position of this row in its classify call.")
    schema_id: strawberry.Private[int | None] = None

    @strawberry.field(
        description="The input row keyed by feature name, in the order of its features. Rows "
        "stored before mlgraph kept names are named after the model's first stored schema of "
        "their width when it is all numerical, else f0, f1, …"
    )
    async def record(self, info: Info[Context, None]) -> FeatureRecord:
        names = [feature.name for feature in await self._schema(info)]
        return FeatureRecord(dict(zip(names, self.features, strict=True)))

    @strawberry.field(description="The name and kind of each value in features, in order.")
    async def feature_schema(self, info: Info[Context, None]) -> list[FeatureInfo]:
        return [
            FeatureInfo(name=f.name, kind=FeatureKind(f.kind)) for f in await self._schema(info)
        ]

    async def _schema(self, info: Info[Context, None]) -> db.features.Columns:
        catalog = await info.context.catalog()
        return catalog.columns(self.model_name, self.schema_id, len(self.features))

    @classmethod
    def from_row(cls, row: db.PredictionRow) -> Prediction:
        probabilities = (
            [ClassProbability(label=k, probability=v) for k, v in row.probabilities.items()]
            if row.probabilities is not None
            else None
        )
        return cls(
            id=strawberry.ID(str(row.id)),
            created_at=row.created_at,
            model_name=row.model_name,
            model_version=row.model_version,
            features=[FeatureValue(value) for value in row.features],
            label=row.label,
            probabilities=probabilities,
            latency_ms=row.latency_ms,
            request_id=row.request_id,
            row_index=row.row_index,
            schema_id=row.schema_id,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class PredictionEdge:
    cursor: str
    node: Prediction


@strawberry.type(description="A page of predictions, newest first (Relay connection).")
class PredictionConnection:
    edges: list[PredictionEdge]
    page_info: PageInfo
