"""daemon heartbeats; indexes for running runs (one at a time per schedule)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:32:03.654730
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemons",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daemons")),
    )
    op.create_index("ix_daemons_last_seen", "daemons", ["last_seen"])
    op.create_index("ix_tasks_schedule_status", "tasks", ["schedule_id", "status"])
    op.create_index(
        "uq_tasks_one_running_per_schedule",
        "tasks",
        ["schedule_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("uq_tasks_one_running_per_schedule", table_name="tasks")
    op.drop_index("ix_tasks_schedule_status", table_name="tasks")
    op.drop_index("ix_daemons_last_seen", table_name="daemons")
    op.drop_table("daemons")
