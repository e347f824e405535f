"""GraphQL types for drift between a reference window and a current window."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from graph.types.features import FeatureKind
from monitoring import drift

__all__ = ["ColumnDrift", "DriftReport", "DriftStatus", "DriftTest", "TimeWindow"]

DriftTest = strawberry.enum(
    drift.StatTest,
    name="DriftTest",
    description="Evidently 0.4.40's tests. KS, CHISQUARE and ZTEST (two-sample Z-test for "
    "proportions) give p-values: small is drift, KS at or below the threshold, CHISQUARE and "
    "ZTEST below it. WASSERSTEIN (in reference standard deviations), JENSENSHANNON and PSI give "
    "distances: large is drift, at or above the threshold. KS and WASSERSTEIN need numbers.",
)


@strawberry.enum
class DriftStatus(enum.Enum):
    NO_DRIFT = "no_drift"
    DRIFTED = "drifted"
    INSUFFICIENT_DATA = "insufficient_data"


@strawberry.input(description="since <= createdAt < until (ISO 8601; no timezone means UTC).")
class TimeWindow:
    since: datetime
    until: datetime


@strawberry.type(description="One column's test: a feature or the predicted label.")
class ColumnDrift:
    name: str | None = strawberry.field(description="The feature's name; null for the label.")
    kind: FeatureKind | None = strawberry.field(  # type: ignore[valid-type]
        description="The feature's kind; null for the label."
    )
    feature: int | None = strawberry.field(
        description="The feature's position in the current window's rows; null for the label."
    )
    test: drift.StatTest
    value: float
    threshold: float
    drifted: bool
    note: str | None = strawberry.field(
        default=None, description="Why the test differs from the one asked for, if it does."
    )

    @classmethod
    def from_result(cls, column: drift.ColumnDrift, *, position: int | None = None) -> ColumnDrift:
        result = column.result
        label = column.name is None
        return cls(
            name=column.name,
            kind=None if label else FeatureKind(column.kind.value),
            feature=None if label else position,
            test=result.test,
            value=result.value,
            threshold=result.threshold,
            drifted=result.drifted,
            note=column.note,
        )


@strawberry.type(description="Drift of one model's inputs and predicted labels.")
class DriftReport:
    status: DriftStatus
    message: str | None = strawberry.field(description="Why there is no verdict, if so.")
    reference_count: int = strawberry.field(description="Rows in the reference window.")
    current_count: int = strawberry.field(description="Rows in the current window.")
    reference_sample: int = strawberry.field(description="Rows tested (random sample if less).")
    current_sample: int
    sampled: bool = strawberry.field(description="True when a window was capped by sampling.")
    features: list[ColumnDrift]
    label: ColumnDrift | None
