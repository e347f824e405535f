"""Checks shared by resolvers: arguments (``BAD_USER_INPUT``) and what a model answered."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import overload

from graph.errors import BadModelResponse, BadUserInput

__all__ = [
    "check_labels",
    "check_page_size",
    "check_range",
    "check_rows",
    "check_text",
    "utc",
]


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
    """1 to ``max_length`` characters, none of them NUL (PostgreSQL text cannot hold it)."""
    if value is not None and not 1 <= len(value) <= max_length:
        raise BadUserInput(f"{argument} must be 1 to {max_length} characters", argument=argument)
    if value is not None and "\x00" in value:
        raise BadUserInput(f"{argument} must not contain NUL characters", argument=argument)
    return value


@overload
def utc(value: datetime, *, argument: str = ...) -> datetime: ...
@overload
def utc(value: None, *, argument: str = ...) -> None: ...
def utc(value: datetime | None, *, argument: str = "date") -> datetime | None:
    """The same instant in UTC; a date without a timezone is taken as UTC.

    Dates at the very ends of the calendar (year 1 east of Greenwich, 9999 west of it) have no
    UTC equivalent a ``datetime`` can hold: they are refused rather than crashing the query.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise BadUserInput(f"{argument} is out of range", argument=argument) from exc


def check_labels(labels: Iterable[str], *, max_length: int = 200) -> None:
    """A model's labels must fit the label column: ``BAD_MODEL_RESPONSE`` otherwise."""
    for label in labels:
        if len(label) > max_length or "\x00" in label:
            raise BadModelResponse(
                f"the model returned a label that cannot be stored (over {max_length} "
                f"characters or with a NUL): {label[:40]!r}…"
            )


def check_range(
    since: datetime, until: datetime, *, model_name: str, argument: str = "since"
) -> tuple[datetime, datetime]:
    """A model name and a non-empty UTC range ``since < until`` (no timezone means UTC)."""
    check_text(model_name, argument="modelName")
    start, end = utc(since, argument=argument), utc(until, argument="until")
    if start >= end:
        raise BadUserInput(f"{argument} must be before until", argument=argument)
    return start, end
