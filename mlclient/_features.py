"""Feature schemas read from what a model declares, and rows checked against one before sending.

Shared by the Seldon v1 and the Open Inference Protocol (V2) clients: Seldon's metadata may
declare its inputs in the V2 form too.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlclient.models import Feature, FeatureKind, FeatureSchema, FeatureValue, TensorMetadata

__all__ = ["check_rows", "schema_from_tensors"]

_NUMERIC_TYPES = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64"}
    | {"UINT8", "UINT16", "UINT32", "UINT64"}
)


def schema_from_tensors(inputs: Sequence[TensorMetadata]) -> FeatureSchema | None:
    """The features that declared inputs describe, or ``None`` when they describe none we use.

    - One input of shape ``[-1, N]`` (N above 1) and a numeric datatype: one tensor of N
      numerical features, named by position (``f0`` …), as a plain scikit-learn model takes.
    - Otherwise every input must hold one value per row (shape ``[-1]`` or ``[-1, 1]``): one
      column each, as MLServer's pandas content type declares a DataFrame, named by the input;
      ``BYTES`` is categorical, numeric datatypes numerical.

    Anything else (a variable width, ``BOOL``, images) gives ``None``: the schema is then
    learned from the model's first answer.
    """
    if not inputs:
        return None
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] != 1:
        only = inputs[0]
        width = only.shape[1]
        if width > 1 and only.datatype in _NUMERIC_TYPES:
            return FeatureSchema.positional(width)
        return None
    features = []
    for tensor in inputs:
        one_per_row = len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)
        if not one_per_row or not tensor.name:
            return None
        if tensor.datatype == "BYTES":
            features.append(Feature(tensor.name, FeatureKind.CATEGORICAL))
        elif tensor.datatype in _NUMERIC_TYPES:
            features.append(Feature(tensor.name, FeatureKind.NUMERICAL))
        else:
            return None
    if len({f.name for f in features}) != len(features):
        return None
    return FeatureSchema(tuple(features))


def check_rows(rows: Sequence[Sequence[FeatureValue]], features: FeatureSchema | None) -> int:
    """The rows' common width; ``ValueError`` for ragged rows or rows that do not fit ``features``.

    Callers check rows properly first (mlgraph answers ``BAD_USER_INPUT`` naming the row and
    the feature); this is the last line, so a client never sends what the model cannot read.
    """
    width = len(rows[0]) if rows else 0
    if any(len(row) != width for row in rows):
        raise ValueError("every row must have the same number of features")
    if features is None:
        return width
    if width != features.width:
        raise ValueError(f"rows have {width} features, the schema {features.width}")
    for index, feature in enumerate(features.features):
        categorical = feature.kind is FeatureKind.CATEGORICAL
        if any(isinstance(row[index], str) != categorical for row in rows):
            expected = "strings" if categorical else "numbers"
            raise ValueError(f"feature {feature.name!r} must hold {expected}")
    return width
