"""GraphQL types for the live feed of predictions."""

from __future__ import annotations

import strawberry

from graph.cursors import encode_cursor
from graph.live import LiveRow
from graph.types.prediction import Prediction

__all__ = ["PredictionEvent"]


@strawberry.type(description="A stored prediction, sent to a predictionAdded subscriber.")
class PredictionEvent:
    cursor: str = strawberry.field(
        description="Pass it as predictionAdded's 'after' when reconnecting to miss nothing."
    )
    prediction: Prediction
    replayed: bool = strawberry.field(
        description=(
            "True when read from the database to catch up (after a reconnect, or after this "
            "subscriber fell behind), false when sent live."
        )
    )
    dropped: int = strawberry.field(
        description=(
            "Live notices this subscription has dropped so far because it read too slowly; "
            "the rows themselves were re-read from the database, so none is missing."
        )
    )

    @classmethod
    def from_live(cls, live: LiveRow, *, dropped: int) -> PredictionEvent:
        return cls(
            cursor=encode_cursor(live.row),
            prediction=Prediction.from_row(live.row),
            replayed=live.replayed,
            dropped=dropped,
        )
