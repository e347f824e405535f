"""Exceptions the query functions raise for outcomes callers handle."""

from __future__ import annotations

__all__ = ["DuplicateRequestId"]


class DuplicateRequestId(Exception):
    """Rows for this request id are already stored (another call committed them first)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"predictions for request id {request_id!r} already exist")
        self.request_id = request_id
