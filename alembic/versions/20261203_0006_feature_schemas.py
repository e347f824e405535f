"""feature_schemas, and predictions.schema_id naming each row's values

Each model's input rows now have a schema: ordered features with a name and a kind
(numerical or categorical). ``predictions.features`` keeps only the values, as before (a JSON
array, now of numbers and strings); the names and kinds are stored once per distinct schema
in ``feature_schemas`` and referred to by ``predictions.schema_id``.

Existing rows are left as they are, with no schema (a metadata-only change on PostgreSQL, even
for a large partitioned table: a nullable column without a default rewrites nothing). They
are read under the model's first stored schema of the same width when it is all numerical,
and as ``f0`` … ``fn`` otherwise (``db.features.Catalog``).

The downgrade refuses while rows with categorical values exist: the older code reads every
value as a number. Export and delete them first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    # Must match db.types.utcnow: SQLite stores text that compares like SQLAlchemy's own format.
    if op.get_context().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f000', 'now'))")
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "feature_schemas",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feature_schemas_model_name", "feature_schemas", ["model_name"])
    op.add_column("predictions", sa.Column("schema_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    # Categorical values can only be stored under a schema with a categorical feature.
    categorical = bind.execute(
        sa.text(
            "SELECT count(*) FROM predictions WHERE schema_id IN "
            "(SELECT id FROM feature_schemas WHERE features LIKE '%\"categorical\"%')"
            if bind.dialect.name == "sqlite"
            else "SELECT count(*) FROM predictions WHERE schema_id IN "
            "(SELECT id FROM feature_schemas WHERE features::text LIKE '%\"categorical\"%')"
        )
    ).scalar_one()
    if categorical:
        raise RuntimeError(
            f"cannot downgrade below 0006: {categorical} predictions hold categorical features, "
            "which the older schema cannot read; export and delete them first"
        )
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("schema_id")
    op.drop_index("ix_feature_schemas_model_name", table_name="feature_schemas")
    op.drop_table("feature_schemas")
