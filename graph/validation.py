"""Argument checks shared by resolvers; each failure is a ``BAD_USER_INPUT`` error."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from graph.errors import BadUserInput

__all__ = ["check_page_size", "check_range", "check_rows", "check_text", "utc"]


def check_rows(rows: Sequence[Sequence[float]], *, max_rows: int, max_features: int) -> None:
    """A batch is one or more rows of the same, non-zero width, of finite numbers."""
    if not rows:
        raise BadUserInput("rows is empty: send at least one row of features", argument="rows")
    if len(rows) > max_rows:
        raise BadUserInput(
            f"too many rows: {len(rows)} > {max_rows}; split the batch", argument="rows"
        )
    width = len(rows[0])
    if width == 0:
        raise BadUserInput("a row has no features", argument="rows")
    if width > max_features:
        raise BadUserInput(f"too many features per row: {width} > {max_features}", argument="rows")
    for index, row in enumerate(rows):
        if len(row) != width:
            raise BadUserInput(
                f"ragged rows: row {index} has {len(row)} features, row 0 has {width}",
                argument="rows",
                row=index,
            )
        if not all(math.isfinite(x) for x in row):
            raise BadUserInput(f"row {index} holds a non-finite number", argument="rows", row=index)


def check_page_size(first: int | None, *, default: int, maximum: int) -> int:
    if first is None:
        return default
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}", argument="first")
    return first


def check_text(value: str | None, *, argument: str, max_length: int = 200) -> str | None:
    if value is not None and not 1 <= len(value) <= max_length:
        raise BadUserInput(f"{argument} must be 1 to {max_length} characters", argument=argument)
    return value


def utc(value: datetime | None) -> datetime | None:
    """Dates without a timezone are taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def check_range(
    since: datetime, until: datetime, *, model_name: str, argument: str = "since"
) -> tuple[datetime, datetime]:
    """A model name and a non-empty UTC range ``since < until`` (no timezone means UTC)."""
    check_text(model_name, argument="modelName")
    start = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    end = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
    if start >= end:
        raise BadUserInput(f"{argument} must be before until", argument=argument)
    return start, end
