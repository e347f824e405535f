"""Turning the values a model server returned into ``RowPrediction``s, whatever the protocol.

Shared by the Seldon v1 and the Open Inference Protocol (V2) clients so that a label or a
probability vector means the same thing behind either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlclient.errors import BadModelResponse
from mlclient.models import RowPrediction

__all__ = ["format_label", "is_number", "probability_row"]


def is_number(value: Any) -> bool:
    """True for a finite int or float; ``bool`` is not a number here, nor NaN or infinity."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_label(value: Any) -> str:
    """A label as text: strings as they are, whole numbers without a fraction (2.0 → "2")."""
    if isinstance(value, str) and value:
        return value
    if is_number(value):
        number = float(value)
        return str(int(number)) if number.is_integer() else str(number)
    raise BadModelResponse(f"model returned a label that is neither text nor a number: {value!r}")


def probability_row(values: Sequence[Any], names: Sequence[str] | None) -> RowPrediction:
    """One row of class probabilities, named by ``names`` or else by class index.

    The label is the most probable class (the first of equals, as ``argmax`` picks).
    """
    if not values or not all(is_number(p) for p in values):
        raise BadModelResponse(f"model returned a row that is not a probability vector: {values!r}")
    if names is None:
        names = [str(i) for i in range(len(values))]
    if len(names) != len(values):
        raise BadModelResponse(
            f"model returned {len(values)} probabilities for {len(names)} classes"
        )
    probabilities = {name: float(p) for name, p in zip(names, values, strict=True)}
    label = max(probabilities, key=probabilities.__getitem__)
    return RowPrediction(label=label, probabilities=probabilities)
