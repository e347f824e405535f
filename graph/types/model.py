"""GraphQL types describing the configured models."""

from __future__ import annotations

import strawberry

from graph.models import FeatureSource as Source
from graph.types.features import FeatureInfo

__all__ = ["FeatureSource", "ModelInfo", "ModelInput"]

FeatureSource = strawberry.enum(
    Source,
    name="FeatureSource",
    description="Where a model's features came from: SETTINGS (MLGRAPH_MODELS), METADATA (the "
    "model server's), FIRST_ANSWER (the rows of its first successful call, named f0, f1, …).",
)


@strawberry.type(description="An input tensor a model declares (Open Inference Protocol).")
class ModelInput:
    name: str
    datatype: str
    shape: list[int] = strawberry.field(description="-1 marks a dimension of any size.")


@strawberry.type(description="A model mlgraph can call.")
class ModelInfo:
    name: str
    protocol: str = strawberry.field(description="seldon (Seldon Core v1) or v2 (Open Inference).")
    is_default: bool
    version: str | None = strawberry.field(description="The configured version, if any.")
    ready: bool = strawberry.field(description="Whether the model answered a readiness check now.")
    feature_count: int | None = strawberry.field(description="Features per row, when known.")
    features: list[FeatureInfo] | None = strawberry.field(
        description="The features of an input row, in order; null until known. Rows that do "
        "not fit them are refused before the model is called."
    )
    features_from: FeatureSource | None = strawberry.field(  # type: ignore[valid-type]
        description="Where the features came from."
    )
    inputs: list[ModelInput] = strawberry.field(
        description="Declared input tensors (V2 metadata, or Seldon metadata in the V2 form)."
    )
