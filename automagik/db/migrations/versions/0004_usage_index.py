"""an index over the runs that reported tokens: cost and token sums read it alone

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_usage",
        "tasks",
        ["finished_at", "flow_id", "total_tokens", "input_tokens", "output_tokens", "cost_usd"],
        sqlite_where=sa.text("total_tokens IS NOT NULL"),
        postgresql_where=sa.text("total_tokens IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_usage", table_name="tasks")
