"""The interface every model client implements, whatever protocol is behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mlclient.models import ModelOutput

__all__ = ["ModelClient"]


class ModelClient(Protocol):
    """A model behind some serving protocol.

    ``predict`` raises a ``mlclient.errors.ModelError`` subclass on every failure and otherwise
    returns exactly one ``RowPrediction`` per input row.
    """

    name: str

    async def predict(self, rows: Sequence[Sequence[float]]) -> ModelOutput: ...

    async def ready(self) -> bool: ...
