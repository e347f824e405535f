"""classify_requests.reward: the reward a Seldon client's feedback gave a request

Seldon's ``Feedback`` carries a reward (a number, often 1 for right and 0 for wrong) for a
whole request, next to or instead of its truth. It is kept on the request's row in
``classify_requests`` (one per request id, which feedback names as ``meta.puid``), the last one
sent winning, and the ``performance`` query reports the mean per bucket. A nullable column
without a default: a metadata-only change on PostgreSQL. Retention prunes it with the row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("classify_requests", sa.Column("reward", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classify_requests") as batch:
        batch.drop_column("reward")
