"""Plain data returned by the model clients."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelMetadata", "ModelOutput", "RowPrediction", "TensorMetadata"]


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


@dataclass(frozen=True, slots=True)
class TensorMetadata:
    """One input or output a model declares: ``shape`` uses ``-1`` for a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a model server says about one model (Open Inference Protocol model metadata)."""

    name: str
    versions: tuple[str, ...] = ()
    platform: str = ""
    inputs: tuple[TensorMetadata, ...] = ()

    @property
    def feature_count(self) -> int | None:
        """Features per row: the last dimension of the first input, e.g. 4 for ``[-1, 4]``.

        ``None`` when the model declares no inputs or that dimension is variable (``-1``).
        """
        if not self.inputs or not self.inputs[0].shape:
            return None
        width = self.inputs[0].shape[-1]
        return width if width > 0 else None
