"""Plain data returned by the model clients."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelOutput", "RowPrediction"]


@dataclass(frozen=True, slots=True)
class RowPrediction:
    """The model's answer for one input row.

    ``probabilities`` maps each class name to its probability, in the model's class order; it is
    ``None`` when the model returns plain labels.
    """

    label: str
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """One model call: a prediction per input row, in input order, and who made them."""

    rows: list[RowPrediction]
    model_name: str
    model_version: str
    latency_ms: float
