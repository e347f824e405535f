"""GraphQL types for drift between a reference window and a current window."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from monitoring import drift

__all__ = ["ColumnDrift", "DriftReport", "DriftStatus", "DriftTest", "TimeWindow"]

DriftTest = strawberry.enum(
    drift.StatTest,
    name="DriftTest",
    description="KS and CHISQUARE give p-values (drift below the threshold); WASSERSTEIN "
    "(normed by the reference std), JENSENSHANNON and PSI give distances (drift at or above).",
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


@strawberry.type(description="One column's test: a feature (by position) or the label.")
class ColumnDrift:
    feature: int | None = strawberry.field(description="Feature position; null for the label.")
    test: drift.StatTest
    value: float
    threshold: float
    drifted: bool

    @classmethod
    def from_result(cls, column: drift.ColumnDrift) -> ColumnDrift:
        result = column.result
        return cls(
            feature=column.feature,
            test=result.test,
            value=result.value,
            threshold=result.threshold,
            drifted=result.drifted,
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
