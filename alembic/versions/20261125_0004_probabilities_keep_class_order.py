"""probabilities as JSON, not JSONB, on PostgreSQL

JSONB stores object keys sorted (by length, then bytes), so the model's class order was lost;
JSON keeps the text as written. SQLite's JSON already keeps it: nothing to do there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.alter_column(
            "predictions",
            "probabilities",
            type_=sa.JSON(),
            existing_type=postgresql.JSONB(),
            postgresql_using="probabilities::json",
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.alter_column(
            "predictions",
            "probabilities",
            type_=postgresql.JSONB(),
            existing_type=sa.JSON(),
            postgresql_using="probabilities::jsonb",
        )
