"""Streaming every stored prediction of a range, with its actual, for a training set.

``plan_export`` reads, in one pass grouped by schema, what the export's columns will be (every
feature by name, every class), so a file's header is known before its first row;
``stream_export_rows`` then streams the rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db._buckets import dialect_of
from db.features import Catalog, Column, load_catalog
from db.tables import Actual, Prediction

__all__ = [
    "EXPORT_COLUMNS",
    "METADATA_COLUMNS",
    "PROBABILITY_PREFIX",
    "ExportConflict",
    "ExportPlan",
    "plan_export",
    "stream_export_rows",
]

# The columns of each streamed row, in order.
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "model_name",
    "model_version",
    "request_id",
    "row_index",
    "features",
    "schema_id",
    "label",
    "probabilities",
    "latency_ms",
    "actual",
)
# The columns of an export besides the features and the probabilities (proba_<class>).
METADATA_COLUMNS = (
    "id",
    "created_at",
    "model_name",
    "model_version",
    "request_id",
    "row_index",
    "label",
    "latency_ms",
    "actual",
)
PROBABILITY_PREFIX = "proba_"


class ExportConflict(ValueError):
    """The range's rows cannot share one table: a name is two kinds, or a metadata column's."""


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an export of a range holds: ``total`` rows; ``features``, one column per feature
    name of every schema in the range, in the order first met; ``classes``, every class the
    probabilities name, in the models' order; ``catalog`` names each row's values."""

    total: int
    features: list[Column]
    classes: list[str]
    catalog: Catalog


def _where(since: datetime, until: datetime, model_name: str | None) -> list[Any]:
    where = [col(Prediction.created_at) >= since, col(Prediction.created_at) < until]
    if model_name is not None:
        where.append(col(Prediction.model_name) == model_name)
    return where


# One row per distinct (model, schema, width, classes) of the range: the schemas it holds and
# the classes its probabilities name, without sending a row over the wire. Rows without
# probabilities hold JSON null there (SQLAlchemy's JSON), not SQL NULL.
_POSTGRES_PLAN = """
    SELECT p.model_name, p.schema_id, jsonb_array_length(p.features),
           CASE WHEN json_typeof(p.probabilities) = 'object' THEN
               (SELECT array_agg(k.key ORDER BY k.ord)
                FROM json_object_keys(p.probabilities) WITH ORDINALITY AS k(key, ord))
           END,
           count(*), min(p.created_at)
    FROM predictions AS p
    WHERE p.created_at >= :since AND p.created_at < :until {model}
    GROUP BY 1, 2, 3, 4
"""
_SQLITE_PLAN = """
    SELECT p.model_name, p.schema_id, json_array_length(p.features),
           CASE WHEN json_type(p.probabilities) = 'object' THEN
               (SELECT json_group_array(key) FROM json_each(p.probabilities))
           END,
           count(*), min(p.created_at)
    FROM predictions AS p
    WHERE p.created_at >= :since AND p.created_at < :until {model}
    GROUP BY 1, 2, 3, 4
"""


async def plan_export(
    session: AsyncSession, *, since: datetime, until: datetime, model_name: str | None = None
) -> ExportPlan:
    """The columns and size of an export of ``since <= created_at < until``.

    Rows of several models or schemas go in one table with a column per distinct feature name
    (empty where a row lacks it). ``ExportConflict`` when that cannot be: one name numerical in
    one schema and categorical in another, or a feature named like a metadata or probability
    column.
    """
    sqlite = dialect_of(session) == "sqlite"
    params: dict[str, Any] = {"since": since, "until": until}
    if sqlite:  # bound as the column stores them (naive UTC text in SQLAlchemy's format)
        params = {k: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for k, v in params.items()}
    model = ""
    if model_name is not None:
        model, params["model_name"] = "AND p.model_name = :model_name", model_name
    statement = (_SQLITE_PLAN if sqlite else _POSTGRES_PLAN).replace("{model}", model)
    groups = (await session.execute(text(statement), params)).all()
    catalog = await load_catalog(session, model_names={g[0] for g in groups})
    features: dict[str, Column] = {}
    classes: dict[str, None] = {}
    for model_of, stored, width, keys, _, _ in sorted(groups, key=lambda g: (str(g[5]), g[0])):
        for column in catalog.columns(model_of, stored, width):
            seen = features.setdefault(column.name, column)
            if seen.kind != column.kind:
                raise ExportConflict(
                    f"feature {column.name!r} is {seen.kind} in some rows and {column.kind} in "
                    "others; export one model (--model / model=) or a range of one schema"
                )
        if keys:
            classes.update(dict.fromkeys(_json_list(keys) if sqlite else keys))
    taken = set(METADATA_COLUMNS) | {PROBABILITY_PREFIX + c for c in classes}
    for name in features:
        if name in taken:
            raise ExportConflict(
                f"feature {name!r} has the name of one of the export's own columns "
                f"({', '.join(METADATA_COLUMNS)}, {PROBABILITY_PREFIX}<class>)"
            )
    total = sum(g[4] for g in groups)
    return ExportPlan(total, list(features.values()), list(classes), catalog)


def _json_list(value: str) -> list[str]:
    return [str(item) for item in json.loads(value)]


async def stream_export_rows(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    model_name: str | None = None,
    batch_size: int = 1000,
) -> AsyncIterator[Sequence[Any]]:
    """Batches of rows in ``EXPORT_COLUMNS`` order, oldest first.

    ``session.stream`` with ``yield_per`` uses a server-side cursor on PostgreSQL, so memory
    holds one batch whatever the range's size.
    """
    statement = (
        select(
            col(Prediction.id),
            col(Prediction.created_at),
            col(Prediction.model_name),
            col(Prediction.model_version),
            col(Prediction.request_id),
            col(Prediction.row_index),
            col(Prediction.features),
            col(Prediction.schema_id),
            col(Prediction.label),
            col(Prediction.probabilities),
            col(Prediction.latency_ms),
            col(Actual.label),
        )
        .outerjoin(Actual, col(Actual.prediction_id) == col(Prediction.id))
        .where(*_where(since, until, model_name))
        .order_by(col(Prediction.created_at), col(Prediction.id))
        .execution_options(yield_per=batch_size)
    )
    result = await session.stream(statement)
    async for batch in result.partitions(batch_size):
        yield batch
