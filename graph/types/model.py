"""GraphQL types describing the configured models."""

from __future__ import annotations

import strawberry

__all__ = ["ModelInfo", "ModelInput"]


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
    inputs: list[ModelInput] = strawberry.field(description="Declared inputs (V2 metadata).")
