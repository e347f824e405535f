"""The database tables. Only ``table=True`` models live here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Uuid
from sqlmodel import Field, SQLModel

from db.types import FeatureValues, UTCDateTime, utcnow

__all__ = ["Actual", "ApiKey", "ClassifyRequest", "FeatureSchemaRow", "Prediction"]


class Prediction(SQLModel, table=True):
    """One input row sent to a model and what the model answered for it.

    A ``classify`` call with several rows stores one ``Prediction`` per row, all with the same
    ``request_id`` and ``created_at``; ``row_index`` is the row's position in that call.

    On PostgreSQL the table is range-partitioned by month of ``created_at`` (migration 0005,
    ``db.partitions``), so the primary key includes ``created_at`` there, and, to keep one
    schema, on SQLite too. A partitioned table cannot hold a unique constraint without the
    partition key: request ids are kept unique by ``ClassifyRequest`` instead, and nothing
    can reference ``id`` alone (``Actual`` has no foreign key).
    """

    __tablename__ = "predictions"
    __table_args__ = (
        # Serves "this model, between these dates, newest first" (PostgreSQL scans it
        # backwards for DESC) and the keyset tie-break on id.
        Index("ix_predictions_model_created_id", "model_name", "created_at", "id"),
        # The replay of a repeated request id looks its rows up.
        Index("ix_predictions_request_id", "request_id"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    # The insert sentinel: created_at, the other key column, is set by the server.
    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=Column(Uuid(), primary_key=True, insert_sentinel=True),
    )
    created_at: datetime = Field(
        sa_column=Column(
            UTCDateTime(), primary_key=True, nullable=False, index=True, server_default=utcnow()
        )
    )
    model_name: str = Field(max_length=200)
    model_version: str = Field(max_length=200)
    # The values only, numbers and strings in the schema's order; their names and kinds are
    # the schema's (``schema_id``), stored once per schema rather than once per row. Rows
    # stored before migration 0006 have none (``db.features.Catalog`` names them).
    features: list[float | str] = Field(sa_column=Column(FeatureValues(), nullable=False))
    schema_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    label: str = Field(max_length=200)
    # JSON, not JSONB: JSONB sorts object keys, and the class order is the model's.
    probabilities: dict[str, float] | None = Field(
        default=None, sa_column=Column(JSON(), nullable=True)
    )
    latency_ms: float
    request_id: str | None = Field(default=None, max_length=200)
    row_index: int = Field(default=0)


class FeatureSchemaRow(SQLModel, table=True):
    """The ordered features (name and kind) of one model's input rows, stored once.

    ``id`` is derived from the model's name and the features (``db.features.schema_id``), so
    every process computes it without asking the database, and the same schema is one row
    however many processes store it. Rows are never changed or deleted: predictions refer to
    them without a foreign key (a check per inserted row would cost the hot path), and
    retention leaves them (a handful of rows per model).
    """

    __tablename__ = "feature_schemas"

    id: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    model_name: str = Field(max_length=200, index=True)
    # JSON, not JSONB: the order of the features is the point.
    features: list[dict[str, Any]] = Field(sa_column=Column(JSON(), nullable=False))
    created_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, server_default=utcnow())
    )


class Actual(SQLModel, table=True):
    """What really happened for one prediction (its ground truth), at most one per prediction.

    Recording an actual again replaces ``label``; ``updated_at`` says when the label last
    changed and ``created_at`` when it was first recorded.
    """

    __tablename__ = "actuals"

    # No foreign key: ``predictions`` is partitioned and its ``id`` alone is not unique there.
    # ``db.actuals.record_actuals`` checks the prediction exists; ``db.partitions`` deletes the
    # actuals of the predictions retention drops.
    prediction_id: uuid.UUID = Field(sa_column=Column(Uuid(), primary_key=True))
    label: str = Field(max_length=200)
    created_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, server_default=utcnow())
    )
    updated_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, server_default=utcnow())
    )


class ClassifyRequest(SQLModel, table=True):
    """A request id given to ``classify``, stored with its predictions in one transaction.

    Its primary key is what makes a request id unique: a concurrent second call with the same
    id fails on it (``DuplicateRequestId``) and replays the first call's rows. ``created_at``
    lets retention delete it with its predictions. ``reward`` is the last reward a Seldon
    feedback gave the request (``db.actuals.record_reward``), for the whole request.
    """

    __tablename__ = "classify_requests"

    request_id: str = Field(primary_key=True, max_length=200)
    created_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, index=True, server_default=utcnow())
    )
    reward: float | None = Field(default=None, sa_column=Column(Float(), nullable=True))


class ApiKey(SQLModel, table=True):
    """A caller's API key. Only its SHA-256 is stored: the key itself is shown once, at creation.

    ``prefix`` (the key's first characters) names the key in listings and for revocation
    without revealing it.
    """

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=16)
    created_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, server_default=utcnow())
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
