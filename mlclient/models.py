"""Plain data taken and returned by the model clients."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Feature",
    "FeatureKind",
    "FeatureSchema",
    "FeatureValue",
    "ModelAnswer",
    "ModelMetadata",
    "ModelOutput",
    "RowPrediction",
    "TensorMetadata",
]

# One value of an input row: a number for a numerical feature, a string for a categorical one.
FeatureValue = float | str


class FeatureKind(enum.StrEnum):
    """What a feature holds: numbers (floats or integers) or categories (strings)."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of a model's input rows."""

    name: str
    kind: FeatureKind = FeatureKind.NUMERICAL


@dataclass(frozen=True, slots=True)
class FeatureSchema:
    """The ordered features of a model's input rows.

    ``named`` is false when the names are placeholders (``f0``, ``f1``, ...) rather than the
    model's own: the clients then send bare positional rows, as for a model that declares no
    names, instead of telling the model about names it never chose.
    """

    features: tuple[Feature, ...]
    named: bool = True

    @classmethod
    def positional(cls, width: int, kinds: Sequence[FeatureKind] | None = None) -> FeatureSchema:
        """``width`` features named ``f0`` … by position, numerical unless ``kinds`` says."""
        chosen = kinds if kinds is not None else [FeatureKind.NUMERICAL] * width
        return cls(tuple(Feature(f"f{i}", kind) for i, kind in enumerate(chosen)), named=False)

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def width(self) -> int:
        return len(self.features)

    @property
    def all_numerical(self) -> bool:
        return all(f.kind is FeatureKind.NUMERICAL for f in self.features)


@dataclass(frozen=True, slots=True)
class RowPrediction:
    """The model's answer for one input row.

    ``probabilities`` maps each class name to its probability, in the model's class order; it is
    ``None`` when the model returns plain labels.
    """

    label: str
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """A model server's answer to one request as it came: its bytes and their decoded JSON.

    Kept so that a caller speaking the model's own protocol can be answered with exactly what
    the model said (mlgraph's drop-in routes), not a copy rebuilt from ``RowPrediction``s.
    """

    content: bytes
    body: Any


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """One model call: a prediction per input row, in input order, and who made them.

    ``answer`` is the server's own answer when this output is one whole answer for exactly
    these rows; ``None`` when the output was put together otherwise (a share of a larger call).
    """

    rows: list[RowPrediction]
    model_name: str
    model_version: str
    latency_ms: float
    answer: ModelAnswer | None = None


@dataclass(frozen=True, slots=True)
class TensorMetadata:
    """One input or output a model declares: ``shape`` uses ``-1`` for a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a model server says about one model.

    ``inputs`` are the tensors an Open Inference Protocol (V2) server declares; ``features`` is
    the feature schema the metadata gives, when it gives one (see ``V2Client.metadata`` and
    ``SeldonClient.metadata`` for how each protocol's declarations are read).
    """

    name: str
    versions: tuple[str, ...] = ()
    platform: str = ""
    inputs: tuple[TensorMetadata, ...] = ()
    features: FeatureSchema | None = None

    @property
    def feature_count(self) -> int | None:
        """Features per row, ``None`` when the metadata gives no schema."""
        return self.features.width if self.features is not None else None
