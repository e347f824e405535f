"""predictions partitioned by month on PostgreSQL; request ids in classify_requests

PostgreSQL: ``predictions`` becomes a table partitioned ``BY RANGE (created_at)``, one
partition a month (``predictions_y2026m11``) plus a DEFAULT partition, so retention drops a
month instead of deleting rows (``mlgraph maintain``). A partitioned table's primary key and
unique constraints must include ``created_at``, so:

- the primary key is ``(id, created_at)``;
- request ids are made unique by the new table ``classify_requests`` (primary key
  ``request_id``) instead of ``UNIQUE (request_id, row_index)``, with a plain index on
  ``predictions.request_id`` for the replay lookup;
- ``actuals.prediction_id`` loses its foreign key (a foreign key needs a unique ``id``).

SQLite gets the same columns, keys and tables (so one set of models describes both), without
partitions. Existing rows are copied into the new table; the downgrade copies them back (and
deletes actuals left without a prediction, which the restored foreign key would refuse).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
COLUMNS = (
    "id, created_at, model_name, model_version, features, label, probabilities, latency_ms,"
    " request_id, row_index"
)
# Partitions made for the coming months; `mlgraph maintain` keeps MLGRAPH_PARTITIONS_AHEAD.
MONTHS_AHEAD = 3


def _now() -> sa.TextClause:
    # Must match db.types.utcnow: SQLite stores text that compares like SQLAlchemy's own format.
    if op.get_context().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f000', 'now'))")
    return sa.text("now()")


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("features", JSONB, nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("row_index", sa.Integer(), nullable=False),
    ]


def _month(year: int, month: int) -> datetime:
    # Months past December roll into the next year.
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def _create_partitions(bind: sa.Connection) -> None:
    """The DEFAULT partition and one per month from the oldest row to MONTHS_AHEAD from now."""
    oldest, newest, now = bind.execute(
        sa.text("SELECT min(created_at), max(created_at), now() FROM predictions_old")
    ).one()
    first = (oldest or now).astimezone(UTC)
    last = max(newest or now, now).astimezone(UTC)
    op.execute("CREATE TABLE predictions_default PARTITION OF predictions DEFAULT")
    start = _month(first.year, first.month)
    stop = _month(last.year, last.month + MONTHS_AHEAD + 1)
    while start < stop:
        end = _month(start.year, start.month + 1)
        op.execute(
            f"CREATE TABLE predictions_y{start:%Y}m{start:%m} PARTITION OF predictions "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
        start = end


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.drop_constraint("fk_actuals_prediction_id", "actuals", type_="foreignkey")
    else:
        with op.batch_alter_table("actuals") as batch:
            batch.drop_constraint("fk_actuals_prediction_id", type_="foreignkey")

    op.drop_index("ix_predictions_model_created_id", table_name="predictions")
    op.drop_index("ix_predictions_created_at", table_name="predictions")
    op.rename_table("predictions", "predictions_old")
    if postgres:
        op.execute("ALTER INDEX predictions_pkey RENAME TO predictions_old_pkey")
    op.create_table(
        "predictions",
        *_columns(),
        sa.PrimaryKeyConstraint("id", "created_at", name="predictions_pkey"),
        postgresql_partition_by="RANGE (created_at)",
    )
    if postgres:
        _create_partitions(bind)
    op.execute(f"INSERT INTO predictions ({COLUMNS}) SELECT {COLUMNS} FROM predictions_old")
    op.drop_table("predictions_old")
    # After the copy: building an index once is cheaper than maintaining it row by row.
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index(
        "ix_predictions_model_created_id", "predictions", ["model_name", "created_at", "id"]
    )
    op.create_index("ix_predictions_request_id", "predictions", ["request_id"])

    op.create_table(
        "classify_requests",
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_classify_requests_created_at", "classify_requests", ["created_at"])
    op.execute(
        "INSERT INTO classify_requests (request_id, created_at) "
        "SELECT request_id, min(created_at) FROM predictions "
        "WHERE request_id IS NOT NULL GROUP BY request_id"
    )


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.drop_index("ix_classify_requests_created_at", table_name="classify_requests")
    op.drop_table("classify_requests")

    op.drop_index("ix_predictions_request_id", table_name="predictions")
    op.drop_index("ix_predictions_model_created_id", table_name="predictions")
    op.drop_index("ix_predictions_created_at", table_name="predictions")
    op.rename_table("predictions", "predictions_partitioned")
    if postgres:
        op.execute("ALTER INDEX predictions_pkey RENAME TO predictions_partitioned_pkey")
    op.create_table(
        "predictions",
        *_columns(),
        sa.PrimaryKeyConstraint("id", name="predictions_pkey"),
        sa.UniqueConstraint("request_id", "row_index", name="uq_predictions_request_row"),
    )
    op.execute(f"INSERT INTO predictions ({COLUMNS}) SELECT {COLUMNS} FROM predictions_partitioned")
    op.drop_table("predictions_partitioned")  # its partitions with it
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index(
        "ix_predictions_model_created_id", "predictions", ["model_name", "created_at", "id"]
    )

    op.execute("DELETE FROM actuals WHERE prediction_id NOT IN (SELECT id FROM predictions)")
    if postgres:
        op.create_foreign_key(
            "fk_actuals_prediction_id",
            "actuals",
            "predictions",
            ["prediction_id"],
            ["id"],
            ondelete="CASCADE",
        )
    else:
        with op.batch_alter_table("actuals") as batch:
            batch.create_foreign_key(
                "fk_actuals_prediction_id",
                "predictions",
                ["prediction_id"],
                ["id"],
                ondelete="CASCADE",
            )
