"""The interface every model client implements, whatever protocol is behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mlclient.models import FeatureSchema, FeatureValue, ModelOutput

__all__ = ["ModelClient"]


class ModelClient(Protocol):
    """A model behind some serving protocol.

    ``predict`` raises a ``mlclient.errors.ModelError`` subclass on every failure and otherwise
    returns exactly one ``RowPrediction`` per input row. ``features`` is the rows' schema, which
    says how to send them (names, one column per input for categories); ``None`` sends bare
    positional numbers. Everything a call needs is in its arguments, so calls with equal
    ``features`` can be sent together.

    ``request_id`` goes where the protocol carries one (Seldon's ``meta.puid``, V2's ``id``);
    model servers echo it, which ties their logs and answers to the stored predictions.
    ``outputs`` names outputs to ask for besides the client's own choice, on protocols whose
    outputs have names (V2); Seldon v1 has none and ignores it.
    """

    name: str

    async def predict(
        self,
        rows: Sequence[Sequence[FeatureValue]],
        *,
        features: FeatureSchema | None = None,
        request_id: str | None = None,
        outputs: Sequence[str] = (),
    ) -> ModelOutput: ...

    async def ready(self) -> bool: ...
