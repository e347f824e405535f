"""Exceptions the query functions raise for outcomes callers handle."""

from __future__ import annotations

import uuid

__all__ = ["DuplicateRequestId", "UnknownPrediction"]


class DuplicateRequestId(Exception):
    """Rows for this request id are already stored (another call committed them first)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"predictions for request id {request_id!r} already exist")
        self.request_id = request_id


class UnknownPrediction(LookupError):
    """An actual names a prediction that is not stored (or was dropped by retention)."""

    def __init__(self, prediction_ids: list[uuid.UUID]) -> None:
        super().__init__(f"no predictions {', '.join(map(str, prediction_ids))}")
        self.prediction_ids = prediction_ids
