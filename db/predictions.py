"""Queries on the predictions table. Each takes the session first and keywords after it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.errors import DuplicateRequestId
from db.features import Columns, distinct_schemas, ensure_schemas, schema_id
from db.tables import ClassifyRequest, Prediction

__all__ = [
    "Keyset",
    "NewCall",
    "NewPrediction",
    "PredictionRow",
    "StoredPrediction",
    "create_predictions",
    "get_prediction",
    "get_predictions_by_ids",
    "get_predictions_by_request_id",
    "has_predictions",
    "list_predictions",
    "store_calls",
]


@dataclass(frozen=True, slots=True)
class NewPrediction:
    """What the caller knows of one row before it is stored: its feature values (numbers for
    numerical features, strings for categorical ones, in the schema's order) and the answer."""

    features: Sequence[float | str]
    label: str
    probabilities: dict[str, float] | None


@dataclass(slots=True)
class StoredPrediction:
    """A prediction as committed by ``store_calls`` or ``db.pg_writes``: the values sent and
    the server's stamp.

    Plain, not a ``Prediction`` table object: the row is known already and nothing will load,
    change or refresh it, and SQLModel's validation and SQLAlchemy's instrumentation took about
    30 µs a row, 3 % of classify's CPU under load (bench/RESULTS.md), to build it.
    """

    id: uuid.UUID
    created_at: datetime
    model_name: str
    model_version: str
    features: list[float | str]
    schema_id: int | None
    label: str
    probabilities: dict[str, float] | None
    latency_ms: float
    request_id: str | None
    row_index: int


# A stored prediction, whether loaded by a query or just written.
PredictionRow = Prediction | StoredPrediction


@dataclass(frozen=True, slots=True)
class Keyset:
    """The position of a row in "newest first" order: page after it."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class NewCall:
    """One classify call's rows, what they share, and its request id (if the caller gave one).

    ``schema`` names the rows' values; ``None`` stores them without one, as rows stored
    before schemas existed (``db.features``).
    """

    rows: Sequence[NewPrediction]
    model_name: str
    model_version: str
    latency_ms: float
    request_id: str | None = None
    schema: Columns | None = None

    @property
    def schema_id(self) -> int | None:
        return schema_id(self.model_name, self.schema) if self.schema else None


async def store_calls(
    session: AsyncSession, *, calls: Sequence[NewCall], known_schemas: Set[int] = frozenset()
) -> list[list[StoredPrediction] | None]:
    """Insert the rows of several calls in one statement; per call, its rows in input order.

    ``created_at`` is set by the database server. A call whose ``request_id`` is stored already,
    or is taken by an earlier call of the same list, gets ``None`` and stores nothing: the
    ``classify_requests`` primary key decides, with ``ON CONFLICT DO NOTHING``, so a concurrent
    transaction inserting the same id is waited for and wins if it commits. The returned rows
    are built from the values sent and the stamps the database returned, not read back.

    The calls' schemas are stored first, in the same transaction, except those in
    ``known_schemas`` (ids this process has seen committed; ``PredictionWriter`` keeps them), so
    a schema costs one more statement the first time only.
    """
    new_schemas = distinct_schemas(
        (c.model_name, c.schema) for c in calls if c.schema and c.schema_id not in known_schemas
    )
    await ensure_schemas(session, schemas=new_schemas)
    taken = await _claim_request_ids(session, [c.request_id for c in calls if c.request_id])
    per_call: list[list[dict[str, Any]] | None] = []
    values: list[dict[str, Any]] = []
    for call in calls:
        if call.request_id is not None:
            if call.request_id not in taken:
                per_call.append(None)
                continue
            taken.discard(call.request_id)  # a second call with the same id is a duplicate
        call_schema = call.schema_id
        call_values: list[dict[str, Any]] = [
            {
                "id": uuid.uuid4(),
                "model_name": call.model_name,
                "model_version": call.model_version,
                # Numbers as floats, strings as they are: the JSON keeps which is which.
                "features": [x if isinstance(x, str) else float(x) for x in row.features],
                "schema_id": call_schema,
                "label": row.label,
                "probabilities": row.probabilities,
                "latency_ms": call.latency_ms,
                "request_id": call.request_id,
                "row_index": index,
            }
            for index, row in enumerate(call.rows)
        ]
        values.extend(call_values)
        per_call.append(call_values)
    stamps: dict[uuid.UUID, datetime] = {}
    if values:
        # Core, not ORM objects: the rows are known already, only the server's stamp is new.
        table = Prediction.__table__  # type: ignore[attr-defined]
        statement = insert(table).returning(table.c.id, table.c.created_at)
        result = await session.execute(statement, values)
        stamps = {row_id: stamp for row_id, stamp in result}
    return [
        None
        if call_values is None
        else [StoredPrediction(created_at=stamps[v["id"]], **v) for v in call_values]
        for call_values in per_call
    ]


async def create_predictions(
    session: AsyncSession,
    *,
    rows: Sequence[NewPrediction],
    model_name: str,
    model_version: str,
    latency_ms: float,
    request_id: str | None = None,
    schema: Columns | None = None,
) -> list[StoredPrediction]:
    """Insert one call's rows (see ``store_calls``) and return them in input order.

    Raises ``DuplicateRequestId`` when ``request_id`` is stored already; nothing is inserted.
    """
    call = NewCall(rows, model_name, model_version, latency_ms, request_id, schema)
    (stored,) = await store_calls(session, calls=[call])
    if stored is None:
        assert request_id is not None
        raise DuplicateRequestId(request_id)
    return stored


async def _claim_request_ids(session: AsyncSession, request_ids: Sequence[str]) -> set[str]:
    """Insert these request ids; returns those that were not stored yet."""
    if not request_ids:
        return set()
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        upsert(ClassifyRequest)
        .values([{"request_id": r} for r in dict.fromkeys(request_ids)])
        .on_conflict_do_nothing()
        .returning(col(ClassifyRequest.request_id))
    )
    return set((await session.scalars(statement)).all())


async def has_predictions(session: AsyncSession, *, model_name: str) -> bool:
    """True when any prediction of ``model_name`` is stored (an index lookup, not a count)."""
    statement = select(col(Prediction.id)).where(col(Prediction.model_name) == model_name)
    return (await session.scalars(statement.limit(1))).first() is not None


async def get_prediction(session: AsyncSession, *, prediction_id: uuid.UUID) -> Prediction | None:
    # Not session.get: the primary key is (id, created_at), and only id is known.
    statement = select(Prediction).where(col(Prediction.id) == prediction_id)
    return (await session.scalars(statement)).one_or_none()


async def get_predictions_by_request_id(
    session: AsyncSession, *, request_id: str
) -> list[Prediction]:
    """The rows stored by one classify call, in the order they were sent."""
    statement = (
        select(Prediction)
        .where(col(Prediction.request_id) == request_id)
        .order_by(col(Prediction.row_index))
    )
    return list((await session.scalars(statement)).all())


async def get_predictions_by_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> list[Prediction]:
    """The rows with these ids that exist, oldest first (ties by id)."""
    if not ids:
        return []
    statement = (
        select(Prediction)
        .where(col(Prediction.id).in_(list(ids)))
        .order_by(col(Prediction.created_at), col(Prediction.id))
    )
    return list((await session.scalars(statement)).all())


async def list_predictions(
    session: AsyncSession,
    *,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
    model_name: str | None = None,
    label: str | None = None,
    after: Keyset | None = None,
    oldest_first: bool = False,
) -> list[Prediction]:
    """Predictions newest first (or ``oldest_first``), ``since`` inclusive, ``until`` exclusive.

    Ties in ``created_at`` are ordered by ``id``, so ``after`` (keyset pagination) visits every
    row exactly once, on any page, at the cost of one index range scan. With ``oldest_first``,
    ``after`` means the rows that follow it in ascending order.
    """
    created_at, row_id = col(Prediction.created_at), col(Prediction.id)
    ascending = (created_at.asc(), row_id.asc())
    order = ascending if oldest_first else (created_at.desc(), row_id.desc())
    statement = select(Prediction).order_by(*order).limit(limit)
    if since is not None:
        statement = statement.where(created_at >= since)
    if until is not None:
        statement = statement.where(created_at < until)
    if model_name is not None:
        statement = statement.where(col(Prediction.model_name) == model_name)
    if label is not None:
        statement = statement.where(col(Prediction.label) == label)
    if after is not None:
        position, keyset = tuple_(created_at, row_id), tuple_(after.created_at, after.id)
        statement = statement.where(position > keyset if oldest_first else position < keyset)
    return list((await session.scalars(statement)).all())
