"""The database tables. Only ``table=True`` models live here."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from db.types import JSONVariant, UTCDateTime, utcnow

__all__ = ["Actual", "ApiKey", "Prediction"]


class Prediction(SQLModel, table=True):
    """One input row sent to a model and what the model answered for it.

    A ``classify`` call with several rows stores one ``Prediction`` per row, all with the same
    ``request_id`` and ``created_at``; ``row_index`` is the row's position in that call.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        # Serves "this model, between these dates, newest first" (PostgreSQL scans it
        # backwards for DESC) and the keyset tie-break on id.
        Index("ix_predictions_model_created_id", "model_name", "created_at", "id"),
        # A request id names one classify call: its rows are unique by position.
        UniqueConstraint("request_id", "row_index", name="uq_predictions_request_row"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, index=True, server_default=utcnow())
    )
    model_name: str = Field(max_length=200)
    model_version: str = Field(max_length=200)
    features: list[float] = Field(sa_column=Column(JSONVariant, nullable=False))
    label: str = Field(max_length=200)
    # JSON, not JSONB: JSONB sorts object keys, and the class order is the model's.
    probabilities: dict[str, float] | None = Field(
        default=None, sa_column=Column(JSON(), nullable=True)
    )
    latency_ms: float
    request_id: str | None = Field(default=None, max_length=200)
    row_index: int = Field(default=0)


class Actual(SQLModel, table=True):
    """What really happened for one prediction (its ground truth), at most one per prediction.

    Recording an actual again replaces ``label``; ``updated_at`` says when the label last
    changed and ``created_at`` when it was first recorded.
    """

    __tablename__ = "actuals"

    prediction_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid(),
            ForeignKey("predictions.id", name="fk_actuals_prediction_id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    label: str = Field(max_length=200)
    created_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, server_default=utcnow())
    )
    updated_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, server_default=utcnow())
    )


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
